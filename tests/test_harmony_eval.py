"""The harmonization benchmark's pieces: the soprano, the figures, the baselines, and a small run."""

from __future__ import annotations

import pytest

from musicgen.benchmark import frames_to_score
from musicgen.harmonize import VOICE_RANGES
from musicgen.harmony_eval import (
    Tally,
    chance_frames,
    format_harmonize_table,
    harmonize_table,
    lower_frames,
    parallel_perfects,
    soprano,
    triad_frames,
)
from musicgen.score import Score

# Four JSB frames (an octave above concert pitch): C major, G major, C major held, then C again.
FRAMES = [[84, 79, 76, 60], [83, 79, 74, 67], [84, 79, 76, 60], [84, 79, 76, 60]]


@pytest.mark.parametrize(("before", "after", "count"), [
    ([67, 60], [69, 62], 1),  # a fifth to a fifth, both up
    ([72, 60], [74, 62], 1),  # an octave to an octave
    ([79, 60], [81, 62], 1),  # a twelfth (compound fifth) to a twelfth
    ([72, 60], [71, 59], 1),  # both down
    ([72, 60], [74, 50], 0),  # contrary motion
    ([67, 60], [67, 60], 0),  # nothing moves
    ([67, 60], [69, 60], 0),  # one voice holds
    ([67, 60], [69, 64], 0),  # a fifth to a fourth
    ([76, 67, 60, 48], [77, 69, 62, 50], 3),  # alto-tenor fifths, alto-bass twelfths, tenor-bass octaves
], ids=["fifths", "octaves", "twelfths", "down", "contrary", "static", "oblique", "fifth-to-fourth", "chorale"])
def test_parallel_fifths_and_octaves(before: list[int], after: list[int], count: int) -> None:
    assert parallel_perfects(before, after) == count


def test_the_soprano_is_the_top_line_in_concert_pitch() -> None:
    melody = soprano(frames_to_score(FRAMES))
    assert [(n.start, n.pitch, n.duration) for n in melody.notes] == [(0, 72, 1), (1, 71, 1), (2, 72, 2)]
    bach = lower_frames(frames_to_score(FRAMES).transpose(-12).piano_roll(), melody)
    assert bach == [[67, 64, 48], [67, 62, 55], [67, 64, 48], [67, 64, 48]]


def test_figures_count_matching_notes_pitch_classes_and_parallels() -> None:
    melody = soprano(frames_to_score(FRAMES))
    bach = lower_frames(frames_to_score(FRAMES).transpose(-12).piano_roll(), melody)
    tally = Tally()
    mine = [[67, 64, 60], [67, 62, 55], [64, 60, 55], [67, 64, 48]]
    tally.add(melody, mine, bach)
    row = tally.row("mine")
    assert row["notes"] == pytest.approx(9 / 12)  # 2 + 3 + 1 + 3 of Bach's 12
    assert row["pitch_classes"] == pytest.approx(1.0)  # the same chords, voiced otherwise
    assert row["bass"] == pytest.approx(2 / 4) and row["frames"] == pytest.approx(2 / 4)
    assert row["in_range"] == pytest.approx(1.0)


def test_the_rule_puts_a_triad_with_its_root_in_the_bass_under_each_note() -> None:
    melody = Score.from_tuples([(72, 80, 0, 1), (76, 80, 1, 2), (71, 80, 2, 3), (72, 80, 3, 4)], steps_per_beat=1)
    assert melody.estimate_key().name == "C major"
    frames = triad_frames(melody)
    assert [f[-1] % 12 for f in frames] == [0, 0, 7, 0]  # C, C (the tonic holds E), G (the dominant holds B), C
    for chord, top in zip(frames, (72, 76, 71, 72), strict=True):
        assert {p % 12 for p in [top, *chord]} == ({7, 11, 2} if top == 71 else {0, 4, 7})
        assert all(p < top for p in chord)


def test_chance_stays_in_the_voices_ranges_under_the_melody() -> None:
    import numpy as np

    melody = soprano(frames_to_score(FRAMES))
    for chord in chance_frames(melody, np.random.default_rng(1)):
        assert len(chord) == 3 and chord == sorted(chord, reverse=True) and chord[0] < 72
        for pitch, voice in zip(chord, ("Alto", "Tenor", "Bass"), strict=True):
            low, high = VOICE_RANGES[voice]
            assert low <= pitch <= high


def test_a_small_run_of_the_table(debug_rnn) -> None:
    rows = harmonize_table([debug_rnn], limit=2, temperatures=(0.0,))
    names = [r["harmonizer"] for r in rows]
    assert names[0].startswith("Bach") and names[-2].startswith("Rule") and names[-1].startswith("Chance")
    assert rows[0]["chorales"] == 2
    for row in rows[1:]:
        assert row["frames_compared"] > 0
        assert 0 <= row["notes"] <= 1 and 0 <= row["pitch_classes"] <= 1
    assert rows[1]["in_range"] == 1.0  # the harmonizer keeps every voice in its range
    table = format_harmonize_table(rows)
    assert table.count("\n") == len(rows) + 1
