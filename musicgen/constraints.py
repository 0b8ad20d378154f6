"""Writing around given notes: the plan a model family samples under, and the results built from it.

Harmonize (``harmonize.py``) and lock-and-regenerate (``lock.py``) both ask a model
to write new notes while some notes stay exactly as they are. Both are a
:class:`Plan`: the fixed notes, where new notes may sound, a ceiling they stay
under, and optionally a set of voices with ranges. A family that supports this
implements ``ModelFamily.sample_constrained`` (the RNN forces the fixed notes'
tokens while it samples); :func:`assemble` then builds each result from the fixed
notes, *verbatim*, and the new notes, so the fixed material is bit for bit the
same in every result whatever grid the model works on.

A model on a coarser grid than the music sees the fixed notes through
:func:`grid_view`; the results still carry the notes as given.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from .errors import MusicgenError
from .score import N_PITCHES, Key, Note, Score, Track


class ConstraintError(MusicgenError, ValueError):
    """A harmonize or lock request that cannot be met; the message says what to change."""


class NotSupported(MusicgenError):
    """The chosen model family cannot write around fixed notes; the message names one that can."""


@dataclass(frozen=True, eq=False)
class Plan:
    """A piece to write with some notes held fixed: what a family's constrained sampler gets.

    Everything is on ``frame``'s grid, in the music's own pitch (MIDI numbers).
    """

    frame: Score  # grid, meter, tempo, tracks and length of the results
    fixed: tuple[Note, ...]  # kept exactly in every result (drum notes too, which models do not see)
    free: np.ndarray  # (T,) bool: steps where new notes may sound
    ceiling: np.ndarray  # (T,) int: new notes lie below this pitch (128: no limit; 0: none at all)
    voices: tuple[tuple[int, int], ...] = ()  # if set: exactly this many new notes wherever they may sound,
    # the k-th highest within voices[k] = (lowest, highest) pitch
    reference: Score | None = None  # the music whose key (and register) places the piece in a model's home
    concert: bool = False  # True: pitches are a choir's concert pitch; move by the model's register offset only
    key: Key | None = None  # the music's key when the caller knows it better than an estimate of ``reference``
    heard: tuple[Note, ...] | None = None  # what a model hears of the fixed notes, if not all of them
    busy: np.ndarray | None = None  # (T, len(voices)) bool: the voice holds a fixed note here, so it gets no new one

    @property
    def length(self) -> int:
        return self.frame.length

    def pitched_fixed(self) -> list[Note]:
        """The fixed notes a model hears (drum tracks left out)."""
        heard = self.fixed if self.heard is None else self.heard
        return [n for n in heard if not self.frame.tracks[n.track].is_drum]


def voice_floors(voices: Sequence[tuple[int, int]]) -> list[int]:
    """The lowest pitch each voice may take and still leave room for the voices under it."""
    floors: list[int] = []
    below = -1
    for low, _ in reversed(voices):
        below = max(low, below + 1)
        floors.append(below)
    return floors[::-1]


# ----------------------------------------------------------------- coarser grids
def grid_factors(from_spb: int, to_spb: int) -> tuple[int, int]:
    """``(up, ratio)``: steps of ``from_spb`` scale by ``up`` onto a common fine grid, where one
    step of ``to_spb`` is ``ratio`` fine steps."""
    common = math.lcm(from_spb, to_spb)
    return common // from_spb, common // to_spb


def grid_view(notes: Sequence[Note], from_spb: int, to_spb: int, n_steps: int) -> list[Note]:
    """Notes as a model on the ``to_spb`` grid sees them; ``n_steps`` steps of that grid.

    On the same or a finer grid the view is exact. On a coarser one each voice
    (track) shows, in each model step, the notes sounding at the step's start (the
    beat), or when it is silent there the one sounding longest inside the step:
    passing notes between beats are heard by the listener but not by the model, as
    in a chorale, where the harmony moves on the beat. A note seen in consecutive
    steps is one note, so a repeated pitch stays two notes (two onsets).
    """
    up, ratio = grid_factors(from_spb, to_spb)
    if ratio == 1:
        return sorted(replace(n, start=n.start * up, duration=n.duration * up) for n in notes
                      if n.start * up < n_steps)
    windows: dict[tuple[int, int], list[int]] = {}  # (track, model step) -> notes overlapping it
    for i, n in enumerate(notes):
        for t in range(n.start * up // ratio, min(n_steps, -(-n.end * up // ratio))):
            windows.setdefault((n.track, t), []).append(i)
    occupied: dict[int, list[int]] = {}  # note index -> model steps it is seen in
    for (_, t), indices in sorted(windows.items(), key=lambda item: item[0][1]):
        begin, end = t * ratio, (t + 1) * ratio
        spans = [(i, notes[i].start * up, notes[i].end * up) for i in indices]
        seen = [i for i, s, e in spans if s <= begin < e]
        if not seen:
            seen = [max((min(e, end) - max(s, begin), -s, i) for i, s, e in spans)[2]]
        for i in seen:
            occupied.setdefault(i, []).append(t)
    view: list[Note] = []
    for i, steps in occupied.items():
        for _, run in itertools.groupby(enumerate(steps), key=lambda x: x[1] - x[0]):
            run_steps = [t for _, t in run]
            view.append(replace(notes[i], start=run_steps[0], duration=len(run_steps)))
    return sorted(view)


def step_view(values: np.ndarray, from_spb: int, to_spb: int, n_steps: int, how: str) -> np.ndarray:
    """A per-step array ``(T,)`` on the model's grid ``(n_steps,)``.

    ``how="start"``: the value at each model step's start; ``"ceiling"``: the lowest
    positive value inside the step (0 when all are 0).
    """
    up, ratio = grid_factors(from_spb, to_spb)
    fine = np.repeat(values, up)
    fine = np.concatenate([fine, np.repeat(fine[-1:] if len(fine) else values[:0], n_steps * ratio)])
    windows = fine[: n_steps * ratio].reshape(n_steps, ratio)
    if how == "start":
        return windows[:, 0].copy()
    positive = np.where(windows > 0, windows, N_PITCHES + 1)
    lowest = positive.min(axis=1)
    return np.where(lowest > N_PITCHES, 0, lowest)


def to_grid(notes: Sequence[Note], from_spb: int, to_spb: int) -> list[Note]:
    """New notes written on a model's grid moved onto the music's grid (each at least one step)."""
    scale = to_spb / from_spb
    out = []
    for n in notes:
        start, end = round(n.start * scale), round(n.end * scale)
        out.append(replace(n, start=start, duration=max(1, end - start)))
    return out


# ----------------------------------------------------------------- results
def split_voices(notes: Sequence[Note], references: Sequence[float]) -> list[int]:
    """Which voice each note goes to; voices are ordered from the highest down.

    Notes that start together go, highest first, to voices that are free (not
    holding a note), in the same order, choosing the voices nearest each note's
    pitch (a voice's last pitch, or its reference before it has sung); where more
    notes start than voices are free, the extra notes join the nearest voice.
    """
    n_voices = len(references)
    last = [float(r) for r in references]
    busy_until = [0] * n_voices
    voice_of = [0] * len(notes)
    order = sorted(range(len(notes)), key=lambda i: (notes[i].start, -notes[i].pitch))
    for _, group in itertools.groupby(order, key=lambda i: notes[i].start):
        group = list(group)
        start = notes[group[0]].start
        free = [v for v in range(n_voices) if busy_until[v] <= start]
        if len(group) <= len(free):
            choice = min(itertools.combinations(free, len(group)),
                         key=lambda vs: sum(abs(notes[i].pitch - last[v]) for i, v in zip(group, vs, strict=True)))
        else:
            choice = tuple(min(range(n_voices), key=lambda v, i=i: abs(notes[i].pitch - last[v])) for i in group)
        for i, v in zip(group, choice, strict=True):
            voice_of[i] = v
            last[v] = notes[i].pitch
            busy_until[v] = max(busy_until[v], notes[i].end)
    return voice_of


def keep_to_free_steps(notes: Sequence[Note], free: np.ndarray) -> list[Note]:
    """New notes cut where a non-free step begins; notes starting on one are left out."""
    out = []
    for n in notes:
        if n.start >= len(free) or not free[n.start]:
            continue
        stop = n.start + int(np.argmin(np.append(free[n.start:n.end], False)))
        out.append(replace(n, duration=stop - n.start))
    return out


def _clear_of_fixed(new: list[Note], fixed: Sequence[Note]) -> list[Note]:
    """New notes that never touch a fixed note of the same track and pitch.

    A Score cuts the earlier of two overlapping same-pitch notes of a track short
    (and merges two that start together): a new note starting inside a fixed one
    is left out, one running into a fixed one is cut where it starts. The fixed
    notes are then kept bit for bit.
    """
    spans: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for f in fixed:
        spans.setdefault((f.track, f.pitch), []).append((f.start, f.end))
    out = []
    for n in new:
        end = n.end
        clash = False
        for s, e in spans.get((n.track, n.pitch), ()):
            if s <= n.start < e:
                clash = True
                break
            if n.start < s < end:
                end = s
        if not clash:
            out.append(replace(n, duration=end - n.start))
    return out


def assemble(plan: Plan, new: Sequence[Note], voices: Sequence[tuple[int, float]],
             extra_tracks: Sequence[Track] = ()) -> Score:
    """One result: the plan's fixed notes as they are, and the new notes on the voice tracks.

    ``voices`` are ``(track index, reference pitch)``, from the highest voice down;
    a track index may point into ``extra_tracks``, which are added after the
    frame's tracks.
    """
    frame = plan.frame
    notes = [n for n in keep_to_free_steps(new, plan.free) if 0 <= n.pitch < N_PITCHES]
    notes = [replace(n, duration=min(n.duration, frame.length - n.start)) for n in notes if n.start < frame.length]
    if len(voices) == 1:
        placed = [replace(n, track=voices[0][0]) for n in notes]
    else:
        which = split_voices(notes, [ref for _, ref in voices])
        placed = [replace(n, track=voices[v][0]) for n, v in zip(notes, which, strict=True)]
    placed = _clear_of_fixed(placed, plan.fixed)
    return replace(frame, notes=tuple(plan.fixed) + tuple(placed), tracks=frame.tracks + tuple(extra_tracks),
                   length=frame.length)
