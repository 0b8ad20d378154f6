"""The Score: invariants, views and the operations musicians use."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from musicgen.score import Note, Score, ScoreError, Track, estimate_key, pitch_name

# Ode to Joy, first phrase, in sixteenth-note steps: (pitch, velocity, start, end).
ODE = [(64, 80, 0, 4), (64, 80, 4, 8), (65, 80, 8, 12), (67, 80, 12, 16),
       (67, 80, 16, 20), (65, 80, 20, 24), (64, 80, 24, 28), (62, 80, 28, 32),
       (60, 80, 32, 36), (60, 80, 36, 40), (62, 80, 40, 44), (64, 80, 44, 48),
       (64, 80, 48, 54), (62, 80, 54, 56), (62, 80, 56, 64)]


def ode() -> Score:
    return Score.from_tuples(ODE)


def test_notes_are_sorted_highest_first_within_a_step() -> None:
    score = Score.from_tuples([(60, 80, 4, 8), (72, 80, 0, 4), (64, 80, 0, 4)])
    assert [n.pitch for n in score.notes] == [72, 64, 60]


def test_tuples_round_trip() -> None:
    assert Score.from_tuples(ode().to_tuples()) == ode()


def test_same_pitch_overlaps_are_cut_and_duplicates_merged() -> None:
    score = Score.from_tuples([(60, 50, 0, 8), (60, 90, 4, 6), (60, 70, 4, 12)])
    assert score.to_tuples() == [(60, 50, 0, 4, 0), (60, 90, 4, 12, 0)]


@pytest.mark.parametrize(("ts", "spb", "steps"), [((4, 4), 4, 16), ((3, 4), 4, 12), ((6, 8), 4, 12),
                                                   ((2, 2), 4, 16), ((7, 8), 2, 7), ((4, 4), 12, 48)],
                         ids=["4/4", "3/4", "6/8", "2/2", "7/8-eighths", "4/4-triplets"])
def test_steps_per_bar(ts: tuple[int, int], spb: int, steps: int) -> None:
    assert Score(time_signature=ts, steps_per_beat=spb).steps_per_bar == steps


@pytest.mark.parametrize("bad", [
    {"notes": (Note(0, 128, 1),)}, {"notes": (Note(0, 60, 0),)}, {"notes": (Note(-1, 60, 1),)},
    {"notes": (Note(0, 60, 1, 0),)}, {"notes": (Note(0, 60, 1, 80, 1),)}, {"tracks": ()},
    {"time_signature": (4, 3)}, {"bpm": 0.0}, {"time_signature": (5, 32)},
], ids=["pitch-128", "zero-duration", "negative-start", "velocity-0", "missing-track", "no-tracks",
        "denominator-3", "zero-bpm", "bar-off-grid"])
def test_invalid_scores_are_refused(bad: dict) -> None:
    with pytest.raises(ScoreError):
        Score(**bad)


def test_piano_roll_shape_and_content() -> None:
    roll = ode().piano_roll()
    assert roll.shape == (64, 128)
    assert roll[:4, 64].all() and not roll[:4, 62].any()
    assert roll.sum() == 64  # a monophonic line covers every step once
    onsets = ode().onset_roll()
    assert onsets.sum() == len(ODE)
    velocity = Score.from_tuples([(60, 99, 0, 2)]).piano_roll(velocity=True)
    assert velocity.dtype == np.uint8 and velocity[1, 60] == 99


def test_transpose_moves_pitches_but_not_drums() -> None:
    score = Score.from_tuples([(60, 80, 0, 4, 0), (36, 80, 0, 4, 1)], tracks=(Track(), Track(is_drum=True)))
    up = score.transpose(5)
    assert sorted(n.pitch for n in up.notes) == [36, 65]
    with pytest.raises(ScoreError, match="outside"):
        score.transpose(70)


@given(st.integers(-12, 12))
def test_transpose_round_trip(k: int) -> None:
    assert ode().transpose(k).transpose(-k) == ode()


def test_crop_bars_and_last_bars() -> None:
    score = ode()  # 4 bars of 4/4
    assert score.n_bars == 4
    second = score.crop_bars(1, 2)
    assert second.length == 16
    assert [n.pitch for n in second.notes] == [67, 65, 64, 62]
    assert second.notes[0].start == 0
    last = score.last_bars(1)
    assert [n.pitch for n in last.notes] == [64, 62, 62]
    assert last.notes[0].duration == 6
    assert score.last_bars(99) == score


def test_crop_cuts_notes_at_the_window_end() -> None:
    score = Score.from_tuples([(60, 80, 0, 32)])
    assert score.crop_bars(0, 1).to_tuples() == [(60, 80, 0, 16, 0)]


def test_concat_starts_the_next_piece_on_a_new_bar() -> None:
    a = Score.from_tuples([(60, 80, 0, 6)])  # 6 steps: one started bar
    b = Score.from_tuples([(67, 80, 0, 4)])
    joined = a.concat(b)
    assert joined.to_tuples() == [(60, 80, 0, 6, 0), (67, 80, 16, 20, 0)]
    assert joined.length == 32
    assert len(joined.tracks) == 1


def test_concat_then_crop_gives_back_the_parts() -> None:
    joined = ode().concat(ode().transpose(2))
    assert joined.crop_bars(0, 4) == ode()
    assert joined.crop_bars(4, 8) == ode().transpose(2)


def test_select_and_merge_tracks() -> None:
    score = Score.from_tuples([(72, 80, 0, 4, 0), (48, 80, 0, 4, 1), (36, 80, 0, 4, 2)],
                              tracks=(Track("S", 73), Track("B", 32), Track("D", 0, True)))
    bass = score.select_tracks([1])
    assert bass.tracks == (Track("B", 32),) and bass.notes[0].pitch == 48
    swapped = score.select_tracks([1, 0])
    assert [swapped.tracks[n.track].name for n in swapped.notes] == ["S", "B"]
    merged = score.merge_tracks()
    assert merged.tracks == (Track("Merged", 73),)
    assert [n.pitch for n in merged.notes] == [72, 48]


@pytest.mark.parametrize(("tonic", "mode", "pcs"), [
    ("C major", "major", [0, 2, 4, 5, 7, 9, 11]),
    ("A minor", "minor", [9, 11, 0, 2, 4, 5, 7, 8]),
    ("E major", "major", [4, 6, 8, 9, 11, 1, 3]),
    ("F minor", "minor", [5, 7, 8, 10, 0, 1, 4]),
], ids=["C-major", "A-minor", "E-major", "F-minor"])
def test_key_of_scales_with_tonic_triad_emphasis(tonic: str, mode: str, pcs: list[int]) -> None:
    # A scale, then the tonic triad held long: how a piece in that key sounds.
    notes = [(60 + pc, 80, i * 2, i * 2 + 2) for i, pc in enumerate(pcs)]
    root = pcs[0]
    third = root + (4 if mode == "major" else 3)
    notes += [(48 + root, 80, 16, 32), (60 + third, 80, 16, 32), (55 + root, 80, 16, 32)]
    key = estimate_key(Score.from_tuples(notes))
    assert key.name == tonic
    assert key.correlation > 0.6


@pytest.mark.parametrize("k", range(-5, 7))
def test_key_is_transposition_equivariant(k: int) -> None:
    base = ode().estimate_key()
    moved = ode().transpose(k).estimate_key()
    assert (moved.tonic, moved.mode) == ((base.tonic + k) % 12, base.mode)
    assert moved.correlation == pytest.approx(base.correlation)
    assert moved.scale == frozenset((pc + k) % 12 for pc in base.scale)


def test_key_needs_pitched_notes() -> None:
    drums = Score.from_tuples([(36, 80, 0, 4)], tracks=(Track(is_drum=True),))
    with pytest.raises(ScoreError, match="no pitched notes"):
        drums.estimate_key()


def test_pitch_names() -> None:
    assert [pitch_name(p) for p in (60, 69, 21, 108)] == ["C4", "A4", "A0", "C8"]


def test_duration_in_seconds() -> None:
    score = Score.from_tuples([(60, 80, 0, 16)], bpm=60)
    assert score.seconds_per_step == 0.25
    assert score.duration_seconds == 4.0
