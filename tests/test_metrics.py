"""Each metric against values worked out by hand on tiny Scores built from note tuples.

Tuples are ``(pitch, velocity, start, end[, track])`` in steps; 4 steps make a beat and
16 a bar of 4/4 unless a test says otherwise.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from musicgen import metrics
from musicgen.score import Score, Track

# C E G C' as quarter notes: one bar, one pitch at a time.
ARPEGGIO = Score.from_tuples([(60, 80, 0, 4), (64, 80, 4, 8), (67, 80, 8, 12), (72, 80, 12, 16)])
# A C major triad held for a half note, a beat of silence, then D for a beat.
CHORD_REST_NOTE = Score.from_tuples([(60, 80, 0, 8), (64, 80, 0, 8), (67, 80, 0, 8), (62, 80, 12, 16)])
# Two bars: the first has notes on beats 1 and 3, the second is silent but for a drum hit.
WITH_DRUMS = Score.from_tuples([(60, 80, 0, 4), (62, 80, 8, 12), (36, 100, 20, 21, 1)],
                               tracks=(Track("Piano"), Track("Drums", 0, True)), length=32)
EMPTY = Score(length=16)


@pytest.mark.parametrize(("score", "expected"), [(ARPEGGIO, 12), (CHORD_REST_NOTE, 7), (WITH_DRUMS, 2), (EMPTY, 0)],
                         ids=["arpeggio", "chord", "drums-ignored", "empty"])
def test_pitch_range(score: Score, expected: int) -> None:
    assert metrics.pitch_range(score) == expected


def test_pitches_and_pitch_classes_used() -> None:
    assert metrics.n_pitches_used(ARPEGGIO) == 4  # C4 and C5 are two pitches
    assert metrics.n_pitch_classes_used(ARPEGGIO) == 3  # ...but one pitch class
    assert metrics.n_pitches_used(WITH_DRUMS) == 2  # the kick drum (36) is not a pitch
    assert metrics.n_pitches_used(EMPTY) == metrics.n_pitch_classes_used(EMPTY) == 0


def test_mean_pitch() -> None:
    assert metrics.mean_pitch(ARPEGGIO) == pytest.approx((60 + 64 + 67 + 72) / 4)
    assert math.isnan(metrics.mean_pitch(EMPTY))


def test_pitch_class_entropy() -> None:
    # C twice, E once, G once: p = (1/2, 1/4, 1/4) -> 1/2*1 + 2 * 1/4*2 = 1.5 bits.
    assert metrics.pitch_class_entropy(ARPEGGIO) == pytest.approx(1.5)
    one_class = Score.from_tuples([(60, 80, 0, 4), (72, 80, 4, 8)])
    assert metrics.pitch_class_entropy(one_class) == 0.0
    chromatic = Score.from_tuples([(60 + k, 80, k, k + 1) for k in range(12)])
    assert metrics.pitch_class_entropy(chromatic) == pytest.approx(math.log2(12))
    assert math.isnan(metrics.pitch_class_entropy(EMPTY))


def test_scale_consistency() -> None:
    assert metrics.scale_consistency(ARPEGGIO) == 1.0
    # A harmonic-minor fragment A B C D E F G#: six of seven notes fit A minor (= C major),
    # and no major or minor scale holds all seven.
    harmonic_minor = Score.from_tuples([(p, 80, 2 * i, 2 * i + 2) for i, p in enumerate((57, 59, 60, 62, 64, 65, 68))])
    assert metrics.scale_consistency(harmonic_minor) == pytest.approx(6 / 7)
    chromatic = Score.from_tuples([(60 + k, 80, k, k + 1) for k in range(12)])
    assert metrics.scale_consistency(chromatic) == pytest.approx(7 / 12)


def test_polyphony_counts_only_sounding_steps() -> None:
    assert metrics.polyphony(ARPEGGIO) == 1.0
    # 8 steps with three pitches, 4 silent steps (left out), 4 steps with one: (8*3 + 4*1) / 12.
    assert metrics.polyphony(CHORD_REST_NOTE) == pytest.approx(28 / 12)
    assert math.isnan(metrics.polyphony(EMPTY))


def test_empty_beat_rate() -> None:
    assert metrics.empty_beat_rate(ARPEGGIO) == 0.0
    assert metrics.empty_beat_rate(CHORD_REST_NOTE) == pytest.approx(1 / 4)  # beat 3 is silent
    # 8 beats: 1 and 3 sound; the drum hit in beat 6 does not count.
    assert metrics.empty_beat_rate(WITH_DRUMS) == pytest.approx(6 / 8)
    assert metrics.empty_beat_rate(EMPTY) == 1.0


def test_empty_bar_rate_and_held_notes() -> None:
    assert metrics.empty_bar_rate(WITH_DRUMS) == pytest.approx(1 / 2)
    assert metrics.empty_bar_rate(ARPEGGIO) == 0.0
    # A whole note tied across the bar line into bar 2 keeps bar 2 from being empty; bar 3 is empty.
    held = Score.from_tuples([(60, 80, 8, 24)], length=48)
    assert metrics.empty_bar_rate(held) == pytest.approx(1 / 3)


def test_empty_bar_rate_follows_the_meter() -> None:
    # 3/4: 12 steps a bar. A note in bar 1, a note in bar 3, 3 bars in all.
    waltz = Score.from_tuples([(60, 80, 0, 4), (64, 80, 24, 28)], time_signature=(3, 4))
    assert waltz.steps_per_bar == 12
    assert metrics.empty_bar_rate(waltz) == pytest.approx(1 / 3)


def test_used_pitch_classes_per_bar_skips_empty_bars() -> None:
    # Bar 1: C E G; bar 2: empty; bar 3: D and D an octave up (one pitch class).
    score = Score.from_tuples([(60, 80, 0, 4), (64, 80, 4, 8), (67, 80, 8, 12), (62, 80, 32, 36), (74, 80, 36, 40)])
    assert metrics.used_pitch_classes_per_bar(score) == pytest.approx((3 + 1) / 2)
    assert math.isnan(metrics.used_pitch_classes_per_bar(EMPTY))


def test_used_pitch_classes_per_bar_counts_held_notes() -> None:
    held = Score.from_tuples([(60, 80, 12, 20), (65, 80, 16, 20)])  # C held into bar 2, where F joins it
    assert metrics.used_pitch_classes_per_bar(held) == pytest.approx((1 + 2) / 2)


@pytest.mark.parametrize(("steps_per_beat", "expected"), [(4, 1.0), (24, 2 / 4)], ids=["16th-grid", "24-per-beat"])
def test_qualified_note_rate_default_is_a_32nd_note(steps_per_beat: int, expected: float) -> None:
    # Lengths 1, 2, 3 and 6 steps. At 24 steps per beat a 32nd note is 3 steps: two notes are
    # shorter (MuseGAN's setting). At 4 steps per beat every note is at least a 32nd.
    score = Score.from_tuples([(60, 80, 0, 1), (62, 80, 1, 3), (64, 80, 3, 6), (65, 80, 6, 12)],
                              steps_per_beat=steps_per_beat)
    assert metrics.qualified_note_rate(score) == pytest.approx(expected)
    assert metrics.qualified_note_rate(score, min_steps=2) == pytest.approx(3 / 4)
    assert math.isnan(metrics.qualified_note_rate(EMPTY))


def test_groove_consistency() -> None:
    same = Score.from_tuples([(60, 80, s, s + 2) for s in (0, 4, 8, 16, 20, 24)])  # two bars, same rhythm
    assert metrics.groove_consistency(same) == 1.0
    # Bar 1 onsets at 0, 4, 8; bar 2 at 0 and 6: positions 4, 6, 8 differ -> 1 - 3/16.
    other = Score.from_tuples([(60, 80, s, s + 2) for s in (0, 4, 8, 16, 22)])
    assert metrics.groove_consistency(other) == pytest.approx(1 - 3 / 16)
    # Three bars, distances 0 then 3: 1 - 3 / (16 * 2).
    three = Score.from_tuples([(60, 80, s, s + 2) for s in (0, 4, 8, 16, 20, 24, 32, 38)])
    assert metrics.groove_consistency(three) == pytest.approx(1 - 3 / 32)
    assert math.isnan(metrics.groove_consistency(ARPEGGIO))  # one bar: nothing to compare


def test_note_density_and_mean_note_length() -> None:
    assert metrics.note_density(WITH_DRUMS) == pytest.approx(2 / 2)  # 2 pitched notes, 2 bars
    assert metrics.mean_note_length(CHORD_REST_NOTE) == pytest.approx((8 + 8 + 8 + 4) / 4 / 4)
    assert math.isnan(metrics.mean_note_length(EMPTY))


def test_top_voice_is_the_skyline() -> None:
    # Soprano G holds for a half note while the alto moves C -> D below it; then E on top.
    chorale = Score.from_tuples([(67, 80, 0, 8), (60, 80, 0, 4), (62, 80, 4, 8), (64, 80, 8, 12), (55, 80, 8, 12)])
    assert [(n.pitch, n.start, n.duration) for n in metrics.top_voice(chorale)] == [(67, 0, 8), (64, 8, 4)]
    # A repeated note is two notes; a rest separates notes and is not one.
    repeated = Score.from_tuples([(60, 80, 0, 2), (60, 80, 2, 4), (62, 80, 8, 12)])
    assert [(n.pitch, n.start, n.duration) for n in metrics.top_voice(repeated)] == [(60, 0, 2), (60, 2, 2),
                                                                                       (62, 8, 4)]


def test_average_interval_uses_the_top_voice() -> None:
    assert metrics.average_interval(ARPEGGIO) == pytest.approx((4 + 3 + 5) / 3)
    # The chord counts as its top note G, then down a fifth to D: one interval of 5.
    assert metrics.average_interval(CHORD_REST_NOTE) == pytest.approx(5.0)
    assert math.isnan(metrics.average_interval(Score.from_tuples([(60, 80, 0, 4)])))


def test_note_length_histogram() -> None:
    hist = metrics.note_length_histogram(CHORD_REST_NOTE)  # three half notes and a quarter
    names = metrics.NOTE_LENGTH_NAMES
    assert hist[names.index("1/2")] == pytest.approx(3 / 4)
    assert hist[names.index("1/4")] == pytest.approx(1 / 4)
    assert hist.sum() == pytest.approx(1.0)
    triplet = Score.from_tuples([(60, 80, 0, 2)], steps_per_beat=3)  # 2/3 of a beat
    assert metrics.note_length_histogram(triplet)[names.index("1/4t")] == 1.0
    assert not metrics.note_length_histogram(EMPTY).any()


def test_pitch_class_transition_matrix() -> None:
    matrix = metrics.pitch_class_transition_matrix(ARPEGGIO)  # C->E, E->G, G->C
    expected = np.zeros((12, 12))
    expected[0, 4] = expected[4, 7] = expected[7, 0] = 1 / 3
    np.testing.assert_allclose(matrix, expected)
    assert not metrics.pitch_class_transition_matrix(EMPTY).any()


def test_feature_vector_has_every_feature_in_order() -> None:
    vector = metrics.feature_vector(ARPEGGIO)
    assert vector.shape == (len(metrics.FEATURES),)
    names = [f.name for f in metrics.FEATURES]
    assert vector[names.index("pitch_range")] == 12
    assert vector[names.index("polyphony")] == 1.0


def test_in_scale_rate_weighs_cells_and_fits_a_scale_per_stretch() -> None:
    # C E G held 4 steps each, then C# for 4 steps: no major or minor scale has C, E, G and C#.
    tune = Score.from_tuples([(60, 80, 0, 4), (64, 80, 4, 8), (67, 80, 8, 12), (61, 80, 12, 16)])
    assert metrics.in_scale_cells(tune) == (12, 16) and metrics.in_scale_rate(tune) == 0.75
    # In one stretch, a bar of C major and a bar of F# major share only B and F: no one scale holds both.
    c_then_fsharp = Score.from_tuples([(p, 80, i, i + 1) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72])]
                                      + [(p, 80, 16 + i, 17 + i) for i, p in
                                         enumerate([66, 68, 70, 71, 73, 75, 77, 78])])
    assert metrics.in_scale_rate(c_then_fsharp) < 1.0
    assert metrics.in_scale_rate(c_then_fsharp, window_bars=1) == 1.0  # a scale per bar: both fit
    assert math.isnan(metrics.in_scale_rate(EMPTY))


def test_bar_metrics_pool_bars_notes_and_steps_over_pieces() -> None:
    # WITH_DRUMS: 2 bars (1 empty), 2 notes; CHORD_REST_NOTE: 1 bar, 4 notes, 12 sounding steps.
    pooled = metrics.bar_metrics([WITH_DRUMS, CHORD_REST_NOTE])
    assert pooled["bars"] == 3 and pooled["notes"] == 6
    assert pooled["empty_bar_rate"] == pytest.approx(1 / 3)
    assert pooled["used_pitch_classes_per_bar"] == pytest.approx((2 + 4) / 2)  # C,D | C,E,G,D
    assert pooled["qualified_note_rate"] == 1.0
    # WITH_DRUMS sounds 8 steps with one pitch; CHORD_REST_NOTE 28 pitch-steps over 12 steps.
    assert pooled["polyphony"] == pytest.approx((8 + 28) / (8 + 12))
    assert pooled["in_scale_rate"] == 1.0  # C D | C E G D: all in C major
    assert set(metrics.BAR_METRICS) <= set(pooled)
