"""Harmonize on a tiny trained RNN: the melody kept exactly, three voices under it in range, bad melodies refused."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from musicgen.__main__ import main
from musicgen.constraints import NotSupported, grid_view, split_voices
from musicgen.generate import harmonize
from musicgen.harmonize import HIGHEST_MELODY, VOICE_RANGES, MelodyError, extract_melody, lowest_melody_note
from musicgen.midi import MidiInputError, load_midi, score_to_bytes
from musicgen.models.base import ModelFamily
from musicgen.sampling import SampleParams
from musicgen.score import Note, Score, Track

ROOT = Path(__file__).resolve().parent.parent
ODE = load_midi(ROOT / "assets" / "examples" / "ode-to-joy-melody.mid")  # has repeated notes: E E F G G
CHORALE = load_midi(ROOT / "assets" / "examples" / "bach-chorale-bwv66.6-opening.mid")
LOWER = [VOICE_RANGES[v] for v in ("Alto", "Tenor", "Bass")]

# A tune with quick notes, a rest, a repeated note and a syncopation, sixteenth-note steps:
# (pitch, velocity, start, end).
TUNE = Score.from_tuples([(72, 90, 0, 4), (74, 70, 4, 6), (76, 80, 6, 8), (76, 80, 8, 12), (71, 80, 12, 16),
                          (69, 85, 18, 24), (72, 80, 24, 32)], tracks=(Track("Tune", 73),), bpm=90)


def check_harmonization(take: Score, melody: Score, beat: int = 1) -> None:
    """The melody exactly as given, and three voices under it, in range, wherever it sounds.

    ``beat``: steps of the melody in one step of the model, which writes the voices on its grid.
    """
    assert take.tracks[0] == melody.tracks[0]
    assert [n for n in take.notes if n.track == 0] == list(melody.notes)
    assert [t.name for t in take.tracks[1:]] == ["Alto", "Tenor", "Bass"]
    assert take.length == melody.length
    top = melody.piano_roll()
    under = take.piano_roll(tracks=[1, 2, 3])
    for step in range(take.length):
        window = slice(step - step % beat, step - step % beat + beat)
        sounding = np.flatnonzero(top[window].any(axis=0))
        lower = np.flatnonzero(under[step])[::-1]
        if not len(sounding):
            assert not len(lower), f"the choir sings through a rest at step {step}"
            continue
        assert len(lower) == 3, f"step {step}: {lower}"
        assert lower.max() < sounding.min()
        for pitch, (low, high) in zip(lower, LOWER, strict=True):
            assert low <= pitch <= high, f"step {step}: {lower} out of {LOWER}"


GRACE = replace(TUNE, notes=(*TUNE.notes, Note(12, 69, 1, 60)))  # a grace note on the B of bar 1


HARMONIZERS = {"rnn": ("debug_rnn", {"temperature": 1.3}), "gan": ("debug_gan", {"noise": 1.0})}


@pytest.mark.parametrize("family", list(HARMONIZERS))
@pytest.mark.parametrize("melody", [ODE, TUNE, GRACE], ids=["ode-to-joy", "tune-with-rests", "grace-note"])
def test_the_melody_is_kept_exactly_with_three_voices_under_it(request: pytest.FixtureRequest, family: str,
                                                               melody: Score) -> None:
    fixture, settings = HARMONIZERS[family]
    takes = harmonize(request.getfixturevalue(fixture), melody, SampleParams(n_variations=3, random_seed=2, **settings))
    assert len(takes) == 3
    for take in takes:
        check_harmonization(take, melody)
    assert len({tuple(t.notes) for t in takes}) > 1


def test_a_coarser_model_grid_still_keeps_every_melody_note(debug_rnn) -> None:
    """As rnn-jsb: quarter-note steps, frame data, key-normalized, an octave up."""
    config = replace(debug_rnn.config, steps_per_beat=1, steps_per_bar=1, repeat_onsets=False, key_normalized=True,
                     register=73.6)
    model = replace(debug_rnn, config=config)
    for melody in (TUNE, ODE.transpose(3), GRACE):
        for take in harmonize(model, melody, SampleParams(n_variations=2, random_seed=4, temperature=1.5)):
            check_harmonization(take, melody, beat=4)
            # The voices move on the beat (the model's grid): every new note starts and ends on one.
            assert all(n.start % 4 == 0 and n.end % 4 == 0 for n in take.notes if n.track > 0)


def test_the_model_hears_the_beat_note_and_repeated_notes_stay_onsets() -> None:
    view = grid_view(TUNE.notes, 4, 1, 8)  # sixteenths seen on a quarter-note grid
    assert [(n.start, n.pitch, n.duration) for n in view] == [
        (0, 72, 1), (1, 74, 1), (2, 76, 1), (3, 71, 1), (4, 69, 2), (6, 72, 2)]
    # On its own grid the view is the melody itself: the repeated E (76) is two notes, two onsets.
    exact = grid_view(TUNE.notes, 4, 4, TUNE.length)
    assert [(n.start, n.pitch, n.duration) for n in exact] == [(n.start, n.pitch, n.duration) for n in TUNE.notes]
    assert [n.start for n in exact if n.pitch == 76] == [6, 8]


def test_the_repeated_note_is_forced_as_a_second_onset(debug_rnn) -> None:
    from musicgen.harmonize import harmonize_plan
    from musicgen.models.rnn_constraints import _Requirements

    view = grid_view(ODE.notes, 4, 4, ODE.length)
    need = _Requirements(view, ODE.length, 0, debug_rnn.config)
    index = 64 - debug_rnn.config.lowest
    assert need.pitch[0, 0] == need.pitch[4, 0] == index  # E at steps 0-3, E again at 4-7
    assert need.onset[0, 0] and not need.onset[2, 0] and need.onset[4, 0]
    assert harmonize_plan(ODE).ceiling[4] == 64


def test_same_random_seed_same_harmonization(debug_rnn) -> None:
    params = SampleParams(n_variations=2, random_seed=11)
    assert harmonize(debug_rnn, TUNE, params) == harmonize(debug_rnn, TUNE, params)
    assert harmonize(debug_rnn, TUNE, replace(params, random_seed=12)) != harmonize(debug_rnn, TUNE, params)


def test_the_top_voice_of_a_file_is_the_melody(debug_rnn) -> None:
    soprano = extract_melody(CHORALE)
    assert soprano.tracks[0].name == "Soprano"
    assert [n.pitch for n in soprano.notes] == [n.pitch for n in CHORALE.notes if n.track == 0]
    take = harmonize(debug_rnn, CHORALE, SampleParams(n_variations=1))[0]
    check_harmonization(take, soprano)


@pytest.mark.parametrize(("melody", "message"), [
    (Score.from_tuples([(72, 80, 0, 8), (67, 80, 0, 8)]), "chords"),
    (Score.from_tuples([(72, 80, 0, 8), (74, 80, 6, 12)]), "chords"),
    (Score(length=16), "no pitched notes"),
    (Score.from_tuples([(36, 80, 0, 4)], tracks=(Track(is_drum=True),)), "no pitched notes"),
    (Score.from_tuples([(67, 80, 0, 4), (lowest_melody_note() - 1, 80, 4, 8)]), "too low.*up an octave"),
    (Score.from_tuples([(72, 80, 0, 4), (lowest_melody_note() - 1, 80, 4, 8)]), "too low.*up 1 semitone and"),
    (Score.from_tuples([(HIGHEST_MELODY + 1, 80, 0, 4)]), "above any choir voice.*down an octave"),
    (Score.from_tuples([(60, 80, 0, 4), (HIGHEST_MELODY + 2, 80, 4, 8)]), "above any choir voice.*down 2 semitones"),
    (Score.from_tuples([(57, 80, 0, 4), (85, 80, 4, 8)]), "wider than a choir's top voice"),
    (Score.from_tuples([(72, 80, 16 * 70, 16 * 70 + 4)]), "at most 64 bars"),
], ids=["chord", "overlap", "empty", "drums", "too-low", "too-low-by-a-semitone", "too-high", "too-high-by-a-tone",
        "too-wide", "too-long"])
def test_bad_melodies_get_a_clear_error(debug_rnn, melody: Score, message: str) -> None:
    with pytest.raises(MelodyError, match=message):
        harmonize(debug_rnn, melody, SampleParams(n_variations=1))


def test_an_empty_file_is_refused_before_harmonizing() -> None:
    with pytest.raises(MidiInputError, match="empty"):
        load_midi(b"")


def test_a_track_that_is_not_there(debug_rnn) -> None:
    with pytest.raises(MelodyError, match="tracks 0 to 3"):
        harmonize(debug_rnn, CHORALE, SampleParams(n_variations=1), track=7)


def test_a_family_without_constraints_says_so() -> None:
    from types import SimpleNamespace

    from musicgen.harmonize import harmonize_plan

    family = SimpleNamespace(name="plain")  # a family that keeps ModelFamily's default
    with pytest.raises(NotSupported, match=r"PLAIN models cannot .* pick an RNN"):
        ModelFamily.sample_constrained(family, None, None, harmonize_plan(ODE), SampleParams(), None)


def test_voices_take_notes_in_order_and_keep_held_notes() -> None:
    chord = [Note(0, 67, 4), Note(0, 60, 4), Note(0, 48, 8), Note(4, 65, 4), Note(4, 59, 4)]
    assert split_voices(chord, [64.5, 59.0, 49.5]) == [0, 1, 2, 0, 1]  # the bass holds; the others move


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A debug RNN on disk, for the command line."""
    from enginefixtures import train_debug_rnn

    folder = tmp_path_factory.mktemp("cli-models") / "rnn-cli"
    train_debug_rnn(folder, steps=20)
    return folder


def test_cli_harmonize_writes_one_file_per_variation(model_folder: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    melody = tmp_path / "tune.mid"
    melody.write_bytes(score_to_bytes(TUNE))
    out = tmp_path / "out"
    assert main(["harmonize", str(melody), "--model", str(model_folder), "--variations", "2", "--out", str(out)]) == 0
    files = sorted(out.glob("*.mid"))
    assert [f.name for f in files] == ["tune-rnn-cli-harmony-1.mid", "tune-rnn-cli-harmony-2.mid"]
    for f in files:
        take = load_midi(f)
        assert [t.name for t in take.tracks] == ["Tune", "Alto", "Tenor", "Bass"]
        assert [(n.start, n.pitch, n.duration) for n in take.notes if n.track == 0] == [
            (n.start, n.pitch, n.duration) for n in TUNE.notes]
    assert "C major" in capsys.readouterr().out


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty"),
    (score_to_bytes(Score.from_tuples([(72, 80, 0, 8), (67, 80, 0, 8)])), "chords"),
    (score_to_bytes(Score.from_tuples([(40, 80, 0, 8)])), "too low"),
], ids=["empty-file", "chords", "too-low"])
def test_cli_harmonize_explains_a_bad_melody(model_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                                             content: bytes, message: str) -> None:
    melody = tmp_path / "bad.mid"
    melody.write_bytes(content)
    assert main(["harmonize", str(melody), "--model", str(model_folder), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_the_piano_roll_shows_the_kept_melody_in_its_own_colour(debug_rnn) -> None:
    from matplotlib.colors import to_hex

    from musicgen.plots import LOCKED_COLOUR, NEW_COLOUR, SEED_COLOUR, piano_roll_figure

    take = harmonize(debug_rnn, TUNE, SampleParams(n_variations=1))[0]
    fig = piano_roll_figure(take, new_from_track=1, locked=TUNE.notes)
    colours = [to_hex(c) for c in fig.axes[0].collections[0].get_facecolor()]  # one box per note
    assert colours.count(LOCKED_COLOUR) == len(TUNE.notes)
    assert colours.count(NEW_COLOUR) == len(take.notes) - len(TUNE.notes)
    plain = [to_hex(c) for c in piano_roll_figure(take, new_from_track=1).axes[0].collections[0].get_facecolor()]
    assert plain.count(SEED_COLOUR) == len(TUNE.notes) and LOCKED_COLOUR not in plain


@pytest.mark.parametrize("family", list(HARMONIZERS))
def test_rewriting_part_of_a_harmonization_keeps_the_rest(request: pytest.FixtureRequest, family: str) -> None:
    from musicgen.harmonize import reharmonize
    from musicgen.lock import Lock

    model = request.getfixturevalue(HARMONIZERS[family][0])
    first = harmonize(model, ODE, SampleParams(n_variations=1, random_seed=5))[0]
    bar = first.steps_per_bar
    kept = [n for n in first.notes if n.track in (0, 3) or n.start < bar]  # melody, bass, and bar 1
    rewrites = reharmonize(model, first, Lock(bars=(1,), tracks=(3,)), SampleParams(n_variations=3))
    for take in rewrites:
        assert set(kept) <= set(take.notes)
        assert all(n.start >= bar for n in set(take.notes) - set(kept))
        check_harmonization(take, ODE)
    if family == "rnn":  # (a debug GAN's bars hardly depend on the latent, so its rewrites may agree)
        assert len({tuple(t.notes) for t in rewrites}) > 1


def test_only_a_harmonization_can_be_reharmonized(debug_rnn) -> None:
    from musicgen.constraints import ConstraintError
    from musicgen.harmonize import reharmonize
    from musicgen.lock import Lock

    with pytest.raises(ConstraintError, match="not a harmonization"):
        reharmonize(debug_rnn, ODE, Lock(bars=(1,)))
    # Bach's own four voices are one: keep his soprano and bass, rewrite the inner voices.
    for take in reharmonize(debug_rnn, CHORALE, Lock(tracks=(3,)), SampleParams(n_variations=2)):
        assert [n for n in take.notes if n.track in (0, 3)] == [n for n in CHORALE.notes if n.track in (0, 3)]
