"""Lock and regenerate: keep some bars or tracks of a take, let the model rewrite the rest.

    takes = generate(model, take, SampleParams(n_variations=4), lock=Lock(bars=(1, 2, 3, 4), tracks=(0,)))

A note is locked when it starts in a locked bar or lies on a locked track (drum
tracks are always kept: the models do not write drums). Locked notes are copied
into every result bit for bit, however long they ring; everything else is
rewritten, in the unlocked bars only, on the unlocked tracks. The result is as
long as the take. For the RNN, locked bars at the start are read as a seed and the
music continues from the first unlocked bar ("regenerate from bar k"); locked
notes later on, and locked tracks, are held in place token by token while it
samples. The GAN rewrites bar by bar, each open bar following the bar before as
rewritten, its latent inverted with the locked notes' piano-roll rows held.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .constraints import ConstraintError, Plan, assemble
from .midi import check_seed
from .sampling import SampleParams
from .score import N_PITCHES, Note, Score

if TYPE_CHECKING:
    from .generate import LoadedModel


@dataclass(frozen=True)
class Lock:
    """What to keep of a take."""

    bars: tuple[int, ...] = ()  # bar numbers counted from 1, kept in every track
    tracks: tuple[int, ...] = ()  # track numbers counted from 0 (as `info` lists them), kept in every bar

    def __post_init__(self) -> None:
        object.__setattr__(self, "bars", tuple(sorted({int(b) for b in self.bars})))
        object.__setattr__(self, "tracks", tuple(sorted({int(t) for t in self.tracks})))

    @classmethod
    def from_bar(cls, bar: int, tracks: tuple[int, ...] = ()) -> Lock:
        """Keep every bar before ``bar`` (counted from 1) and rewrite from there on."""
        if bar < 2:
            raise ConstraintError("Regenerate from bar 2 or later: bar 1 onwards is the whole take.")
        return cls(bars=tuple(range(1, bar)), tracks=tracks)


def parse_numbers(text: str, what: str) -> tuple[int, ...]:
    """``"1-4,7"`` -> ``(1, 2, 3, 4, 7)``."""
    numbers: list[int] = []
    for part in text.replace(" ", "").split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise ConstraintError(f"Cannot read {what} {text!r}: write numbers and ranges, like 1-4,7.")
        first, last = int(match[1]), int(match[2] or match[1])
        if last < first:
            raise ConstraintError(f"The range {part} of {what} runs backwards: write it as {last}-{first}.")
        numbers += range(first, last + 1)
    return tuple(numbers)


def _is_locked(score: Score, note: Note, lock: Lock) -> bool:
    return (score.tracks[note.track].is_drum or note.track in lock.tracks
            or note.start // score.steps_per_bar + 1 in lock.bars)


def locked_notes(take: Score, lock: Lock) -> list[Note]:
    """The notes of ``take`` that ``lock`` keeps (every result has them unchanged)."""
    return [n for n in take.notes if _is_locked(take, n, lock)]


def free_steps(take: Score, lock: Lock, open_tracks: list[int]) -> np.ndarray:
    """``(T,)`` True in the bars the lock leaves open, after checking the lock against the take.

    Raises
    ------
    ConstraintError
        A bar or track that is not there, or nothing left to rewrite.
    """
    n_bars, n_tracks = take.n_bars, len(take.tracks)
    if bad := [b for b in lock.bars if not 1 <= b <= n_bars]:
        raise ConstraintError(f"There is no bar {bad[0]}: this take has bars 1 to {n_bars}.")
    if bad := [t for t in lock.tracks if not 0 <= t < n_tracks]:
        raise ConstraintError(f"There is no track {bad[0]}: this take has tracks 0 to {n_tracks - 1}.")
    free = np.array([t // take.steps_per_bar + 1 not in lock.bars for t in range(take.length)], dtype=bool)
    if not open_tracks or not free.any():
        raise ConstraintError("Everything is locked: unlock a bar or a track for the model to rewrite.")
    return free


def lock_plan(take: Score, lock: Lock) -> tuple[Plan, list[tuple[int, float]]]:
    """The plan, and the tracks new notes go to (``(track, reference pitch)``, highest first).

    New notes go to the unlocked tracks that had notes in the rewritten part, taken
    as voices from the highest down (a single such track takes them all), else to
    the first unlocked pitched track.

    Raises
    ------
    ConstraintError
        Nothing locked, nothing left to rewrite, or a bar or track that is not there.
    """
    check_seed(take)
    if not lock.bars and not lock.tracks:
        raise ConstraintError("Lock at least one bar or track; to rewrite everything, generate afresh.")
    open_tracks = [i for i, t in enumerate(take.tracks) if not t.is_drum and i not in lock.tracks]
    free = free_steps(take, lock, open_tracks)
    fixed = tuple(locked_notes(take, lock))
    rewritten = [n for n in take.notes if not _is_locked(take, n, lock)]
    active = [i for i in open_tracks if any(n.track == i for n in rewritten)]
    voices = sorted(((i, float(np.mean([n.pitch for n in rewritten if n.track == i]))) for i in active),
                    key=lambda v: -v[1]) or [(open_tracks[0], 60.0)]
    plan = Plan(frame=take, fixed=fixed, free=free, ceiling=np.full(take.length, N_PITCHES, dtype=np.int64),
                reference=take)
    return plan, voices


def regenerate(model: LoadedModel, take: Score, lock: Lock, params: SampleParams | None = None) -> list[Score]:
    """``params.n_variations`` rewrites of ``take`` as one batch, each keeping what ``lock`` keeps.

    ``params.bars`` is not used: each result is as long as the take.

    Raises
    ------
    ConstraintError
        See :func:`lock_plan`.
    NotSupported
        The model's family cannot write around fixed notes.
    """
    params = params or SampleParams()
    plan, voices = lock_plan(take, lock)
    sampled = model.family.sample_constrained(model.network, model.config, plan, params, model.device)
    return [assemble(plan, new, voices) for new in sampled]
