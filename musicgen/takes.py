"""Takes a musician keeps: joined into one piece, and packed for download.

A take is a Score with a name. The app keeps them per session; these functions
are what it does with them, and they need no Streamlit.
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from .errors import MusicgenError
from .midi import score_to_bytes
from .score import Note, Score


class TakesError(MusicgenError):
    """Nothing to join or pack; the message says what to do."""


@dataclass(frozen=True)
class Take:
    """A kept result: its music, a name, and how it was made (so it can be made again)."""

    name: str
    score: Score
    model: str = ""
    settings: tuple[tuple[str, Any], ...] = ()  # the generation settings, as (name, value) pairs
    new_from_track: int | None = None  # tracks from here on are the model's (for the piano roll)

    @property
    def midi(self) -> bytes:
        return score_to_bytes(self.score)


class ShownTake(NamedTuple):
    """A take as the Compose page shows and serves it (its WAV download is rendered when asked
    for: :func:`musicgen.audio.wav_file` of ``score`` and ``program``)."""

    score: Score
    sound: bytes  # the player's audio (``audio.PLAYER_FORMAT``)
    first_new: int  # tracks from here on are the model's (drawn in the new colour)
    png: bytes  # its piano roll
    midi: bytes
    program: int | None = None  # the instrument it is played with; None: each track's own


def play_takes(takes: Sequence[Score], program: int | None = None,
               shared_until: int | None = None) -> list[bytes]:
    """The player's audio (``audio.PLAYER_FORMAT``) of each take, rendered and encoded on every
    core (FluidSynth computes without the GIL), each take encoded as soon as it is played.
    ``shared_until``: the takes continue one seed that ends at this step, so its audio is
    rendered once (:func:`musicgen.continuations.render_continuations`)."""
    from .audio import PLAYER_FORMAT, Rendered, encode, player_options, render_many
    from .continuations import render_continuations

    options = player_options(program)

    def sound(rendered: Rendered) -> bytes:
        return encode(rendered, PLAYER_FORMAT)

    if shared_until is not None:
        return render_continuations(list(takes), shared_until, options, then=sound)
    return render_many(list(takes), options, then=sound)


def show_takes(takes: Sequence[Score], first_new: int, program: int | None = None,
               locked: Collection[Note] | None = None, shared_until: int | None = None,
               stage_times: dict[str, float] | None = None) -> list[ShownTake]:
    """Audio, piano rolls and MIDI for each take, as Compose shows them.

    The audio renders in a background thread (FluidSynth computes without the GIL)
    while this one draws the piano rolls and writes the MIDI files, so the two
    share the cores (``program`` and ``shared_until`` as for :func:`play_takes`).
    ``stage_times``, when given, gets each stage's seconds: ``"piano rolls"``,
    ``"MIDI"`` (this thread) and ``"audio"`` (the wait for it after them).
    """
    from .plots import piano_roll_png

    clock = [time.perf_counter()]

    def lap(stage: str) -> None:
        now = time.perf_counter()
        if stage_times is not None:
            stage_times[stage] = now - clock[0]
        clock[0] = now

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="take-audio") as worker:
        sounds = worker.submit(play_takes, takes, program, shared_until)
        pngs = [piano_roll_png(t, first_new, f"Take {i + 1}", locked=locked) for i, t in enumerate(takes)]
        lap("piano rolls")
        midi = [score_to_bytes(t) for t in takes]
        lap("MIDI")
        played = sounds.result()
        lap("audio")
    return [ShownTake(t, sound, first_new, png, m, program)
            for t, sound, png, m in zip(takes, played, pngs, midi, strict=True)]


def move(items: Sequence[Any], index: int, offset: int) -> list[Any]:
    """``items`` with the one at ``index`` moved by ``offset`` places (clamped to the ends)."""
    out = list(items)
    if not 0 <= index < len(out):
        return out
    target = min(max(index + offset, 0), len(out) - 1)
    out.insert(target, out.pop(index))
    return out


def join_takes(scores: Sequence[Score], bpm: float | None = None) -> Score:
    """One piece: each score after the one before, each starting on a new bar.

    Tracks are matched by name and instrument (see :meth:`Score.concat`); the
    tempo is the first score's unless ``bpm`` is given.
    """
    if not scores:
        raise TakesError("Pick at least one take to join.")
    joined = scores[0].concat(*scores[1:]) if len(scores) > 1 else scores[0]
    return replace(joined, bpm=bpm) if bpm else joined


def file_stem(name: str) -> str:
    """A safe file name stem for a take's name."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")
    return stem[:60] or "take"


def takes_zip(takes: Sequence[Take], audio: Callable[[Score], bytes] | None = None,
              audio_suffix: str = "wav") -> bytes:
    """A zip of every take as MIDI (and audio, if ``audio`` renders a score), plus all of them joined."""
    if not takes:
        raise TakesError("There are no kept takes to download yet: keep some on Compose first.")
    buffer = io.BytesIO()
    used: set[str] = set()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for number, take in enumerate(takes, 1):
            stem = f"{number:02d}-{file_stem(take.name)}"
            while stem in used:
                stem += "_"
            used.add(stem)
            archive.writestr(f"{stem}.mid", take.midi)
            if audio is not None:
                archive.writestr(f"{stem}.{audio_suffix}", audio(take.score))
        archive.writestr("all-takes-joined.mid", score_to_bytes(join_takes([t.score for t in takes])))
    return buffer.getvalue()
