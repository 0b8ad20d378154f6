"""The copy guard: takes that copy the training music are drawn again, the rest kept, deterministically."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_evaluate import tune

from musicgen.copyguard import REDRAWS, redraw_copies, redraw_seed
from musicgen.originality import CopyIndex
from musicgen.sampling import SampleParams
from musicgen.score import Score

SEED_BARS = 2


@pytest.fixture(scope="module")
def index() -> CopyIndex:
    return CopyIndex.build([(f"tune-{k}", tune(k)) for k in range(5)])


def seed() -> Score:
    return tune(200).crop_bars(0, SEED_BARS)


def continuation(copy_of: int | None, variant: int) -> Score:
    """The seed, then 3 bars: of training tune ``copy_of`` (a copy, moved up a tone), or new ones."""
    new = tune(copy_of).crop_bars(1, 4).transpose(2) if copy_of is not None else tune(300 + variant).crop_bars(0, 3)
    return seed().concat(new)


class Draws:
    """What a model would draw: take ``i`` of the request with random seed ``s`` is decided by ``plan(s, i)``
    (a training tune's number to copy, or None for new music); every call is recorded."""

    def __init__(self, plan) -> None:
        self.plan, self.calls = plan, []

    def __call__(self, params: SampleParams) -> list[Score]:
        self.calls.append(params)
        return [continuation(self.plan(params.random_seed, i), params.random_seed % 97 + i)
                for i in range(params.n_variations)]


START = SEED_BARS * 16  # the new music starts after the 2-bar seed (4/4, 4 steps per beat)


def test_a_take_that_copies_is_drawn_again_and_the_others_are_kept(index: CopyIndex) -> None:
    params = SampleParams(n_variations=4, random_seed=7)
    draws = Draws(lambda s, i: 3 if (s, i) == (7, 2) else None)
    guarded = redraw_copies(draws, params, index, START)
    first = draws(params)
    assert [c.flagged for c in guarded.first_checks] == [False, False, True, False]
    assert guarded.first_checks[2].source == "tune-3"
    assert not any(c.flagged for c in guarded.checks) and guarded.redrawn == 1
    assert [t.notes for t in guarded.takes[:2]] == [t.notes for t in first[:2]]  # untouched, note for note
    assert guarded.takes[2].notes != first[2].notes
    assert guarded.takes[2].notes[:len(seed().notes)] == seed().notes  # still the seed, then new music
    # One redraw, of the one flagged take, with a seed derived from the request's.
    assert [(p.n_variations, p.random_seed) for p in draws.calls[:2]] == [(4, 7), (1, redraw_seed(7, 1))]


def test_the_guard_gives_the_same_takes_for_the_same_request(index: CopyIndex) -> None:
    def plan(s: int, i: int) -> int | None:
        return i if s in (11, redraw_seed(11, 1)) and i < 2 else None

    a = redraw_copies(Draws(plan), SampleParams(n_variations=3, random_seed=11), index, START)
    b = redraw_copies(Draws(plan), SampleParams(n_variations=3, random_seed=11), index, START)
    assert [t.notes for t in a.takes] == [t.notes for t in b.takes] and a.checks == b.checks
    assert a.redrawn == 2 and not any(c.flagged for c in a.checks)


def test_when_every_draw_copies_the_shortest_copy_is_kept_after_the_last_redraw(index: CopyIndex) -> None:
    lengths = {0: 4, 1: 3}  # the first draw copies 4 bars; redraw 1 copies 3 bars, the others 4

    def draw(params: SampleParams) -> list[Score]:
        attempt = next((a for a in range(REDRAWS + 1) if redraw_seed(5, a) == params.random_seed), 0)
        bars = lengths.get(attempt, 4)
        return [seed().concat(tune(4).crop_bars(1, 1 + bars))] * params.n_variations

    counted = []
    guarded = redraw_copies(lambda p: counted.append(p) or draw(p), SampleParams(n_variations=1, random_seed=5),
                            index, START)
    assert len(counted) == 1 + REDRAWS  # it gave up after the last redraw
    assert guarded.checks[0].flagged and guarded.checks[0].bars < guarded.first_checks[0].bars


def test_a_seed_that_copies_is_not_held_against_the_take(index: CopyIndex) -> None:
    copied_seed = tune(1).crop_bars(0, 3)
    draws = Draws(lambda s, i: None)
    guarded = redraw_copies(lambda p: [copied_seed.concat(t.crop_bars(SEED_BARS, 5)) for t in draws(p)],
                            SampleParams(n_variations=2), index, start_step=3 * 16)
    assert len(draws.calls) == 1 and guarded.redrawn == 0


def test_sample_params_keep_the_guard_off_unless_asked() -> None:
    assert not SampleParams().avoid_copies and replace(SampleParams(), avoid_copies=True).avoid_copies
