"""The copy guard: continuations that copy the training music are drawn again.

A model trained on a few hundred chorales has heard their cadences many times and
sometimes hands one back whole: rnn-jsb's first draws copy 2 bars or more of a
training chorale's melody in about a fifth of continuations (see
:mod:`musicgen.originality`). A musician must not be handed someone else's music,
so each flagged take is drawn again, with a random seed derived from the
request's, up to :data:`REDRAWS` times; the draw that copies least is kept. The
same request gives the same takes, since the redraws' seeds are fixed.

    guarded = redraw_copies(draw, params, index, start_step=seed.padded_to_bar().length)
    guarded.takes, guarded.checks, guarded.first_checks
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from .originality import CopyCheck, CopyIndex
from .sampling import SampleParams
from .score import Score

__all__ = ["REDRAWS", "Guarded", "redraw_copies", "redraw_seed"]

REDRAWS = 3  # draws after the first for a take that copies; most copies are gone after one


@dataclass(frozen=True)
class Guarded:
    """Takes after the guard, with their copy checks and those of the first draws."""

    takes: list[Score]
    checks: list[CopyCheck]  # of the takes kept
    first_checks: list[CopyCheck]  # of the first draws: the model's own copy rate
    redrawn: int  # takes drawn again at least once


def redraw_seed(random_seed: int, attempt: int) -> int:
    """The random seed of redraw ``attempt`` (1, 2, ...) of a request made with ``random_seed``."""
    return (random_seed + 1_000_003 * attempt) % 2**31


def redraw_copies(draw: Callable[[SampleParams], list[Score]], params: SampleParams, index: CopyIndex,
                  start_step: int = 0, redraws: int = REDRAWS) -> Guarded:
    """``params.n_variations`` takes from ``draw``, each flagged one drawn again (all of them in one batch
    per attempt) until it no longer copies or ``redraws`` attempts are spent; the take copying least is kept.

    ``draw(params)`` makes ``params.n_variations`` takes; ``start_step`` is where the new
    music starts (a seed's own notes are never held against the model).
    """
    takes = draw(params)
    checks = [index.check(t, start_step) for t in takes]
    first = list(checks)
    redrawn: set[int] = set()
    for attempt in range(1, redraws + 1):
        flagged = [i for i, c in enumerate(checks) if c.flagged]
        if not flagged:
            break
        again = draw(replace(params, n_variations=len(flagged), random_seed=redraw_seed(params.random_seed, attempt)))
        for i, take in zip(flagged, again, strict=True):
            check = index.check(take, start_step)
            if check.bars < checks[i].bars:
                takes[i], checks[i] = take, check
            redrawn.add(i)
    return Guarded(takes, checks, first, len(redrawn))
