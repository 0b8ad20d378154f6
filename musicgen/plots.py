"""Piano-roll pictures: the seed, the new material and what was kept (locked) in their own colours,
bar lines, pitch names."""

from __future__ import annotations

import io
from collections.abc import Collection

import matplotlib

matplotlib.use("Agg")  # no display: figures are drawn to PNG bytes
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from .score import Note, Score, pitch_name

SEED_COLOUR = "#8a8f98"  # what the musician brought: quiet grey
NEW_COLOUR = "#3d6b9e"  # what the model wrote: the app's blue
DRUM_COLOUR = "#c98a3a"
LOCKED_COLOUR = "#b03a48"  # what the musician kept while the model rewrote the rest (harmonize, lock)


def piano_roll_figure(score: Score, new_from_track: int | None = None, title: str = "",
                      width: float = 10.0, height: float = 3.2, locked: Collection[Note] | None = None) -> Figure:
    """A piano roll of ``score``; tracks from ``new_from_track`` on are drawn as new material,
    and the notes in ``locked`` (kept as they were) in a colour of their own.

    The notes are one collection and the bar lines another, with fixed margins: a
    patch per note and ``tight_layout`` cost most of a second for a take of 16 bars.
    """
    fig = Figure(figsize=(width, height), dpi=100)  # not pyplot: its global state is shared by all sessions' threads
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.15, top=0.9 if title else 0.97)
    ax = fig.subplots()
    pitches = [n.pitch for n in score.notes] or [60]
    low, high = min(pitches) - 2, max(pitches) + 2
    beat = score.steps_per_beat
    kept = set(locked or ())
    boxes, colours = [], []
    for n in score.notes:
        track = score.tracks[n.track]
        is_new = new_from_track is not None and n.track >= new_from_track
        colour = DRUM_COLOUR if track.is_drum else LOCKED_COLOUR if n in kept else NEW_COLOUR if is_new else SEED_COLOUR
        x0, x1, y = n.start / beat, (n.start + n.duration) / beat, n.pitch
        boxes.append(((x0, y - 0.4), (x0, y + 0.4), (x1, y + 0.4), (x1, y - 0.4)))
        colours.append(to_rgba(colour, 0.55 + 0.45 * n.velocity / 127))
    ax.add_collection(PolyCollection(boxes, facecolors=colours, edgecolors="white", linewidths=0.4))
    bar = score.steps_per_bar / beat
    ax.vlines([b * bar for b in range(score.n_bars + 1)], low, high, colors="#d0ccc0", linewidth=0.8, zorder=0)
    ticks = [p for p in range(low, high + 1) if p % 12 == 0] or [low]
    ax.set_yticks(ticks, [pitch_name(p) for p in ticks])
    ax.set_xlim(0, max(score.length / beat, bar))
    ax.set_ylim(low, high)
    ax.set_xlabel("beats", labelpad=1)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title, loc="left", fontsize=10)
    return fig


def figure_png(fig: Figure) -> bytes:
    """PNG bytes of a figure (zlib's fastest level: a third less time, a third more bytes,
    some 20 KB for a piano roll)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", pil_kwargs={"compress_level": 1})
    return buffer.getvalue()


def piano_roll_png(score: Score, new_from_track: int | None = None, title: str = "",
                   locked: Collection[Note] | None = None) -> bytes:
    """:func:`piano_roll_figure` as PNG bytes."""
    return figure_png(piano_roll_figure(score, new_from_track, title, locked=locked))
