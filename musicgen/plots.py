"""Piano-roll pictures: the seed, the new material and what was kept (locked) in their own colours,
bar lines, pitch names."""

from __future__ import annotations

import functools
import io
from collections.abc import Collection
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: figures are drawn to PNG bytes
import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

from .score import Note, Score, pitch_name

SEED_COLOUR = "#8a8f98"  # what the musician brought: quiet grey
NEW_COLOUR = "#3d6b9e"  # what the model wrote: the app's blue
DRUM_COLOUR = "#c98a3a"
LOCKED_COLOUR = "#b03a48"  # what the musician kept while the model rewrote the rest (harmonize, lock)


def note_colour(score: Score, note: Note, new_from_track: int | None, kept: Collection[Note]) -> str:
    """A note's colour: drums amber, kept (locked) notes red, the model's (tracks from
    ``new_from_track`` on) blue, the seed's grey."""
    if score.tracks[note.track].is_drum:
        return DRUM_COLOUR
    if note in kept:
        return LOCKED_COLOUR
    return NEW_COLOUR if new_from_track is not None and note.track >= new_from_track else SEED_COLOUR


def note_alpha(loudness: float) -> float:
    """How strongly a note is drawn, from its velocity as a share of 127: quiet notes are paler."""
    return 0.55 + 0.45 * loudness


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
        x0, x1, y = n.start / beat, (n.start + n.duration) / beat, n.pitch
        boxes.append(((x0, y - 0.4), (x0, y + 0.4), (x1, y + 0.4), (x1, y - 0.4)))
        colours.append(to_rgba(note_colour(score, n, new_from_track, kept), note_alpha(n.velocity / 127)))
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
    """PNG bytes of a figure (zlib's fastest level: a third less time, a third more bytes)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", pil_kwargs={"compress_level": 1})
    return buffer.getvalue()


# ----------------------------------------------------------------- PNG, drawn directly
# The app draws a piano roll for every take of every request: Matplotlib takes about
# 95 ms for one (most of it text layout and Agg), these pixels about 6 ms, in the
# same colours. They are palette indices (an RGB PNG spends 18 ms filtering its rows,
# one of 82 colours 4 ms). Sizes are in pixels of the 1000 x 320 picture.
WIDTH, HEIGHT = 1000, 320
MARGIN = {"left": 60, "right": 16, "top": 40, "top_untitled": 14, "bottom": 46}
_INK, _GRID = "#333333", "#d0ccc0"
LABEL_PX, TITLE_PX = 15, 18  # text heights: the app shows two takes side by side, at about a third of this size
_LEVELS = 16  # shades of each colour: the ink's for smooth text, the notes' for their loudness
_NOTE_COLOURS = (SEED_COLOUR, NEW_COLOUR, LOCKED_COLOUR, DRUM_COLOUR)
_WHITE_I, _GRID_I, _INK_I, _NOTES_I = 0, 1, 2, 2 + _LEVELS  # first palette index of each


def _over_white(colour: str, alpha: float) -> list[int]:
    r, g, b, _ = to_rgba(colour)
    return [round(255 * (1 - alpha) + 255 * c * alpha) for c in (r, g, b)]


@functools.cache
def _palette() -> list[int]:
    """White, the grid, the ink's shades (faint to full), then each note colour's shades (quiet to loud)."""
    shades = [(_INK, (k + 1) / _LEVELS) for k in range(_LEVELS)]
    shades += [(c, note_alpha(k / (_LEVELS - 1))) for c in _NOTE_COLOURS for k in range(_LEVELS)]
    return [255, 255, 255, *_over_white(_GRID, 1.0), *(v for c, a in shades for v in _over_white(c, a))]


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans, which Matplotlib ships (PIL's own bitmap font where FreeType is missing)."""
    try:
        return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"), size)
    except OSError:
        return ImageFont.load_default()


@functools.lru_cache(maxsize=512)
def _text_mask(text: str, size: int, anchor: str) -> tuple[np.ndarray, int, int]:
    """The text's coverage (0..255) and its top-left corner relative to the anchor point."""
    font = _font(size)
    x0, y0, x1, y1 = (int(v) for v in font.getbbox(text, anchor=anchor))
    mask = Image.new("L", (max(x1 - x0, 1), max(y1 - y0, 1)), 0)
    ImageDraw.Draw(mask).text((-x0, -y0), text, fill=255, font=font, anchor=anchor)
    return np.asarray(mask), x0, y0


def _write(pixels: np.ndarray, xy: tuple[float, float], text: str, size: int, anchor: str) -> None:
    """Put ``text`` in ink on ``pixels`` (palette indices), anchored at ``xy`` as PIL anchors are."""
    mask, dx, dy = _text_mask(text, size, anchor)
    x, y = round(xy[0]) + dx, round(xy[1]) + dy
    h, w = pixels.shape
    top, left = max(y, 0), max(x, 0)
    part = mask[top - y: min(y + mask.shape[0], h) - y, left - x: min(x + mask.shape[1], w) - x]
    region = pixels[top: top + part.shape[0], left: left + part.shape[1]]
    inked = part >= 256 // _LEVELS
    region[inked] = _INK_I + part[inked].astype(np.int32) * _LEVELS // 256


def bar_labels(n_bars: int) -> range:
    """Which bars to number under the roll: every bar, or every 2nd, 4th or 8th when there are many."""
    every = next(k for k in (1, 2, 4, 8, 16) if n_bars / k <= 16)
    return range(0, n_bars, every)


def piano_roll_png(score: Score, new_from_track: int | None = None, title: str = "",
                   locked: Collection[Note] | None = None) -> bytes:
    """The piano roll of :func:`piano_roll_figure` as a PNG of 1000 x 320 pixels, drawn directly.

    The seed's notes are grey, the model's blue, kept (locked) notes red and drums
    amber, each stronger the louder it is; bars are numbered from 1 under the roll,
    and every C is named on the left.
    """
    pixels = np.full((HEIGHT, WIDTH), _WHITE_I, dtype=np.uint8)
    left, right = MARGIN["left"], WIDTH - MARGIN["right"]
    top, bottom = MARGIN["top"] if title else MARGIN["top_untitled"], HEIGHT - MARGIN["bottom"]
    pitches = [n.pitch for n in score.notes] or [60]
    low, high = min(pitches) - 2, max(pitches) + 2
    bar, n_bars = score.steps_per_bar, max(score.n_bars, 1)
    x_scale, y_scale = (right - left) / (n_bars * bar), (bottom - top) / (high - low)  # pixels per step, semitone

    def x_of(step: float) -> int:
        return round(left + step * x_scale)

    def y_of(pitch: float) -> int:
        return round(bottom - (pitch - low) * y_scale)

    for b in range(n_bars + 1):
        pixels[top:bottom, x_of(b * bar)] = _GRID_I
    kept = set(locked or ())
    half = max(0.4 * y_scale, 1.0)
    for n in score.notes:
        colour = _NOTE_COLOURS.index(note_colour(score, n, new_from_track, kept))
        x0 = x_of(n.start)
        x1 = max(x0 + 1, x_of(n.end) - 1)  # a pixel of white between notes that follow each other
        y = bottom - (n.pitch - low) * y_scale
        level = round((_LEVELS - 1) * n.velocity / 127)
        pixels[round(y - half): round(y + half) + 1, x0:x1] = _NOTES_I + colour * _LEVELS + level
    ink = _INK_I + _LEVELS - 1
    pixels[top:bottom + 1, left] = ink  # the axes
    pixels[bottom, left:right + 1] = ink
    for p in (p for p in range(low, high + 1) if p % 12 == 0):
        pixels[y_of(p), left - 4:left] = ink
        _write(pixels, (left - 7, y_of(p)), pitch_name(p), LABEL_PX, "rm")
    for b in bar_labels(n_bars):
        pixels[bottom:bottom + 5, x_of(b * bar)] = ink
        _write(pixels, (x_of(b * bar) + 3, bottom + 6), str(b + 1), LABEL_PX, "la")
    _write(pixels, ((left + right) / 2, HEIGHT - 3), "bars", LABEL_PX, "md")
    if title:
        _write(pixels, (left, top - 9), title, TITLE_PX, "ld")
    image = Image.fromarray(pixels, "P")
    image.putpalette(_palette())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
