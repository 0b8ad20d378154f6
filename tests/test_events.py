"""The RNN's event encoding: order, onsets versus holds, exact round trips."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from musicgen.models.events import BOS, STEP, EventCodec
from musicgen.score import Note, Score

CODEC = EventCodec(lowest=21, n_pitches=88)


def test_a_chord_is_listed_from_the_top_down() -> None:
    score = Score.from_tuples([(60, 80, 0, 1), (67, 80, 0, 1), (64, 80, 0, 1)])
    tokens, steps = CODEC.encode(score)
    assert tokens.tolist() == [BOS, CODEC.onset(67), CODEC.onset(64), CODEC.onset(60), STEP]
    assert steps.tolist() == [0, 0, 0, 0, 0]


def test_held_and_repeated_notes_stay_apart() -> None:
    held = Score.from_tuples([(60, 80, 0, 2)])
    repeated = Score.from_tuples([(60, 80, 0, 1), (60, 80, 1, 2)])
    assert CODEC.encode(held)[0].tolist() == [BOS, CODEC.onset(60), STEP, CODEC.hold(60), STEP]
    assert CODEC.encode(repeated)[0].tolist() == [BOS, CODEC.onset(60), STEP, CODEC.onset(60), STEP]


def test_rests_are_empty_steps_and_drums_are_left_out() -> None:
    from musicgen.score import Track

    score = Score.from_tuples([(60, 80, 2, 3, 0), (36, 80, 0, 1, 1)], tracks=(Track(), Track(is_drum=True)))
    assert CODEC.encode(score)[0].tolist() == [BOS, STEP, STEP, CODEC.onset(60), STEP]


def test_decode_starts_notes_for_holds_without_onset() -> None:
    notes = CODEC.decode([CODEC.hold(60), STEP, CODEC.hold(60), STEP])
    assert notes == [Note(0, 60, 2)]


@st.composite
def one_track_scores(draw: st.DrawFn) -> Score:
    notes = [Note(draw(st.integers(0, 40)), draw(st.integers(21, 108)), draw(st.integers(1, 8)))
             for _ in range(draw(st.integers(1, 20)))]
    return Score(notes=tuple(notes))


@given(one_track_scores())
def test_decode_inverts_encode(score: Score) -> None:
    tokens, _ = CODEC.encode(score)
    assert Score(notes=tuple(CODEC.decode(tokens)), length=score.length) == score
