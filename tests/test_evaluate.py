"""Evaluation: overlap and the two-sample test on known distributions, the model's corpus and
its copy checks, and the whole report on the debug RNN (and through the CLI); the copy index
itself is tested in test_originality.py."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from musicgen import metrics
from musicgen.corpus import Corpus, Piece, split_of
from musicgen.evalreport import default_report_dir, find_report, find_report_dir, markdown, to_json, write_report
from musicgen.evaluate import EvalSettings, EvaluationError, Seed, evaluate_model, pick_seeds, window
from musicgen.midi import load_midi, score_to_bytes
from musicgen.modelcorpus import CorpusSpec, CorpusUnknown, corpus_spec
from musicgen.originality import FLAG_BARS, copy_index, originality_of
from musicgen.paths import data_dir
from musicgen.score import Score
from musicgen.twosample import classifier_two_sample_test, overlapping_area, relative_overlap

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "assets" / "examples"


def tune(seed: int, bars: int = 6, steps_per_beat: int = 4) -> Score:
    """A made-up diatonic tune in 4/4: eighths and quarters on a random walk in C major."""
    rng = np.random.default_rng(seed)
    scale = [60, 62, 64, 65, 67, 69, 71, 72, 74, 76]
    notes, t, i = [], 0, 4
    unit = steps_per_beat // 2
    while t < bars * 8 * unit:
        length = unit * int(rng.choice([1, 2]))
        i = int(np.clip(i + rng.choice([-2, -1, 1, 2]), 0, len(scale) - 1))
        notes.append((scale[i], 80, t, t + length))
        t += length
    return Score.from_tuples(notes, steps_per_beat=steps_per_beat)


# ----------------------------------------------------------------- overlap and the classifier
def test_overlap_of_one_distribution_is_high_and_of_separated_ones_low() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=400), rng.normal(size=400)
    assert overlapping_area(a, b) > 0.85
    assert overlapping_area(a, b + 10) < 0.01
    assert 0.2 < overlapping_area(a, b + 2) < 0.5  # two unit normals 2 sd apart overlap by 0.32


def test_overlap_of_discrete_values_follows_their_shares() -> None:
    zeros = np.zeros(100)
    assert overlapping_area(zeros, zeros) == 1.0
    mostly_zeros = np.r_[np.zeros(90), np.full(10, 0.125)]
    assert overlapping_area(zeros, mostly_zeros) == pytest.approx(0.9, abs=0.02)
    assert math.isnan(overlapping_area(np.array([np.nan]), zeros))


def test_relative_overlap_of_vector_features() -> None:
    rng = np.random.default_rng(1)
    real = rng.dirichlet(np.ones(12), size=80)
    assert relative_overlap(real, rng.dirichlet(np.ones(12), size=80)) > 0.8
    assert relative_overlap(real, rng.dirichlet(np.r_[50.0, np.ones(11)], size=80)) < 0.3


def test_classifier_cannot_tell_one_distribution_from_itself() -> None:
    rng = np.random.default_rng(2)
    result = classifier_two_sample_test(rng.normal(size=(200, 8)), rng.normal(size=(200, 8)), seed=0)
    assert 0.4 < result.accuracy < 0.6
    assert len(result.folds) == 25 and result.n_per_class == 200


def test_classifier_tells_separated_distributions_apart_and_finds_the_feature() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(100, 6)), rng.normal(size=(100, 6))
    b[:, 4] += 6.0
    result = classifier_two_sample_test(a, b, seed=0)
    assert result.accuracy > 0.98
    assert int(np.argmax(np.abs(result.weights))) == 4 and result.weights[4] > 0


def test_classifier_is_deterministic_and_copes_with_missing_and_constant_features() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(30, 3)), rng.normal(size=(30, 3)) + 1.0
    a[::3, 0] = np.nan
    a[:, 1] = b[:, 1] = 7.0  # constant: no information, no trouble
    first = classifier_two_sample_test(a, b, seed=5)
    assert first == classifier_two_sample_test(a, b, seed=5)
    assert np.isfinite(first.accuracy) and first.accuracy > 0.6
    with pytest.raises(ValueError, match="at least 2"):
        classifier_two_sample_test(a[:1], b[:1])


# ----------------------------------------------------------------- the model's corpus
@pytest.mark.parametrize(("card", "expected"), [
    ({"corpus": "jsb"}, CorpusSpec("jsb")),
    ({"corpus": "folk (first 1098 source files)"}, CorpusSpec("folk", 1098)),
    ({"corpus": "tiny", "corpus_source": "bach", "corpus_limit": 3}, CorpusSpec("bach", 3)),
], ids=["jsb", "limited-folk", "source-field"])
def test_corpus_spec_reads_the_card(card: dict, expected: CorpusSpec) -> None:
    assert corpus_spec(card) == expected


def test_corpus_spec_takes_folders_and_refuses_unknowns(tmp_path: Path) -> None:
    assert corpus_spec({"corpus": "x"}, override=str(tmp_path)) == CorpusSpec(str(tmp_path.resolve()))
    with pytest.raises(CorpusUnknown, match="--corpus"):
        corpus_spec({"corpus": "my-upload"}, model_name="mine")
    with pytest.raises(CorpusUnknown, match="no corpus"):
        corpus_spec({}, override="no/such/folder")


@pytest.fixture(scope="module")
def midi_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Made-up tunes as MIDI files, named so that 4 land in the test split and 12 in training."""
    folder = tmp_path_factory.mktemp("tunes")
    picked = {"test": 0, "train": 0, "valid": 0}
    wanted = {"test": 4, "train": 12, "valid": 2}
    k = 0
    while picked != wanted:
        name = f"tune-{k}.mid"
        split = split_of(name)
        if picked[split] < wanted[split]:
            (folder / name).write_bytes(score_to_bytes(tune(k)))
            picked[split] += 1
        k += 1
    return folder


def test_originality_of_a_take_uses_the_model_card_and_caches_the_index(debug_rnn, midi_folder: Path) -> None:
    train_name = next(p.name for p in sorted(midi_folder.glob("*.mid")) if split_of(p.name) == "train")
    copied = load_midi(midi_folder / train_name).crop_bars(0, 4).transpose(2)
    check = originality_of(copied, debug_rnn, corpus=str(midi_folder))
    assert check.flagged and check.source == train_name and check.bars >= FLAG_BARS
    assert copy_index(debug_rnn, str(midi_folder)) is copy_index(debug_rnn, str(midi_folder))


# ----------------------------------------------------------------- the whole evaluation
def test_window_keeps_notes_held_into_it() -> None:
    score = Score.from_tuples([(60, 80, 0, 24), (64, 80, 16, 20), (67, 80, 30, 40)])
    cut = window(score, 16, 32)
    assert cut.length == 16
    assert sorted((n.pitch, n.start, n.duration) for n in cut.notes) == [(60, 0, 8), (64, 0, 4), (67, 14, 2)]


def test_the_real_continuation_stops_where_the_piece_does() -> None:
    """A chorale whose last bar is cut short by its upbeat: the beats after its last note are not
    part of the music, so they are not counted as rests (no model would write them)."""
    piece = tune(3, bars=4)
    piece = piece.with_notes([n for n in piece.notes if n.start < 52], length=52)  # 3 bars and a beat
    piece = piece.with_notes([*piece.notes[:-1], replace(piece.notes[-1], duration=52 - piece.notes[-1].start)])
    seed = pick_seeds([("upbeat", piece)], EvalSettings(samples=2, max_seeds=2, seed_bars=1, bars=3, min_bars=3))[0]
    real = seed.real(1)
    assert seed.bars == 3 and real.length == 36  # 2 bars and a beat, not 3 bars
    assert metrics.empty_beat_rate(real) == 0.0 and metrics.empty_bar_rate(real) == 0.0
    whole = Seed("whole", tune(3, bars=4), 3).real(1)
    assert whole.length == 48


def fixed_corpus() -> Corpus:
    """The bundled examples held out; made-up tunes, and the Ode a fourth up, to train on."""
    pieces = [Piece(p.name, load_midi(p), "test") for p in sorted(EXAMPLES.glob("*.mid"))]
    ode = load_midi(EXAMPLES / "ode-to-joy-melody.mid")
    pieces += [Piece("ode-up-a-fourth", ode.transpose(5), "train"), Piece("tune-9", tune(9), "valid")]
    pieces += [Piece(f"tune-{k}", tune(k), "train") for k in range(4)]
    return Corpus("fixed", pieces)


SMALL = EvalSettings(samples=6, seed_bars=1, bars=2, min_bars=2, folds=2, repeats=2)


def test_pick_seeds_spreads_over_the_held_out_pieces() -> None:
    held_out = [(f"p{k:02d}", tune(k, bars=4)) for k in range(10)] + [("short", tune(99, bars=2))]
    seeds = pick_seeds(held_out, EvalSettings(samples=5, seed_bars=1, bars=3, min_bars=3))
    assert [s.name for s in seeds] == ["p00", "p02", "p04", "p07", "p09"]  # the 2-bar piece is too short
    assert all(s.bars == 3 for s in seeds)


def test_evaluate_the_debug_rnn_end_to_end(debug_rnn, tmp_path: Path) -> None:
    report = evaluate_model(debug_rnn, SMALL, corpus=fixed_corpus())
    pieces = report["pieces"]
    assert pieces["seeds"] == 4 and pieces["generated"] == 6 and pieces["real_continuations"] == 4
    assert pieces["generated_bars"] == 6 * 2 and pieces["training"] == 5
    assert [f["name"] for f in report["features"]] == [f.name for f in metrics.FEATURES]
    for f in report["features"]:
        assert f["generated"]["n"] <= 6 and f["real"]["n"] <= 4
        assert math.isnan(f["overlap"]) or 0.0 <= f["overlap"] <= 1.0
    two = report["two_sample"]["generated_vs_real"]
    assert two["n_per_class"] == 4 and len(two["folds"]) == 4 and 0.0 <= two["accuracy"] <= 1.0
    assert set(report["bar_metrics"]["generated"]) >= set(metrics.BAR_METRICS)
    # The Ode is held out, and its transposition is trained on: its real continuation is a copy.
    real = report["originality"]["real"]
    assert any(f["seed"] == "ode-to-joy-melody.mid" and f["source"] == "ode-up-a-fourth"
               for f in real["flagged_pieces"])
    assert set(report["targets"]) == {"overlap", "two_sample", "copy_rate"}
    # The copy guard ran, as in the app: the first draws copy at least as often as the takes kept.
    first, kept = report["originality"]["first_draws"], report["originality"]["generated"]
    assert report["originality"]["copy_guard"] and first["pieces"] == kept["pieces"] == 6
    assert first["flag_rate"] >= kept["flag_rate"]

    folder = write_report(report, tmp_path / "report")
    for name in ("report.json", "report.md", "features.png", "histograms.png", "two_sample.png", "originality.png"):
        assert (folder / name).stat().st_size > 0
    json.loads((folder / "report.json").read_text(), parse_constant=pytest.fail)  # strict JSON: no NaN
    text = markdown(report)
    assert "| bar metric |" in text and "overlapping area" in text and "real vs real" in text
    assert ">= 2 bars" in text and report["originality"]["real"]["rate_at_least"]["2"] > 0
    assert "first draws (before the copy guard)" in text


def test_jaccard_distance_of_bars_and_from_the_seed() -> None:
    from musicgen.noise_ladder import distance_from_seed, jaccard_distance

    a = np.zeros((4, 128), dtype=bool)
    b = a.copy()
    a[0:2, 60] = b[1:3, 60] = True  # one cell shared of three
    assert jaccard_distance(a, b) == pytest.approx(2 / 3) and jaccard_distance(a, a) == 0.0
    assert jaccard_distance(np.zeros_like(a), np.zeros_like(a)) == 0.0
    seed = Score.from_tuples([(60, 80, 0, 16), (62, 80, 16, 32)])  # two bars, one held note each
    restated = Score.from_tuples([(60, 80, 0, 16), (62, 80, 16, 32), (60, 80, 32, 48)])  # bar 3 is bar 1 again
    assert distance_from_seed(seed, restated) == 0.0
    moved = Score.from_tuples([(64, 80, 0, 16), (62, 80, 16, 24)])
    assert distance_from_seed(seed, moved) == pytest.approx((1.0 + 0.5) / 2)


def test_a_gan_report_has_its_noise_ladder(tmp_path: Path) -> None:
    from enginefixtures import train_debug_gan

    from musicgen.noise_ladder import NOISE_LEVELS

    gan = train_debug_gan(tmp_path / "gan")
    report = evaluate_model(gan, SMALL, corpus=fixed_corpus())
    ladder = report["noise_ladder"]
    assert [level["noise"] for level in ladder["levels"]] == list(NOISE_LEVELS)
    assert ladder["levels"][0]["between_variations"] == 0.0  # noise 0: every variation the same
    assert all(0.0 <= level["from_seed"] <= 1.0 for level in ladder["levels"])
    assert report["targets"]["noise"]["met"] == (ladder["grows"] and ladder["closest_at_zero"])
    assert "## Noise" in markdown(report) and "in_scale_rate" in markdown(report)


def test_evaluation_is_reproducible(debug_rnn) -> None:
    first = evaluate_model(debug_rnn, SMALL, corpus=fixed_corpus())
    second = evaluate_model(debug_rnn, SMALL, corpus=fixed_corpus())
    assert to_json({**first, "seconds": 0}) == to_json({**second, "seconds": 0})


def test_too_few_held_out_pieces_is_a_clear_error(debug_rnn) -> None:
    corpus = Corpus("small", [Piece("a", tune(1), "test"), Piece("b", tune(2), "train")])
    with pytest.raises(EvaluationError, match="needs 4 or more"):
        evaluate_model(debug_rnn, SMALL, corpus=corpus)


def test_settings_out_of_range_are_refused() -> None:
    with pytest.raises(EvaluationError):
        EvalSettings(samples=1)
    with pytest.raises(EvaluationError):
        EvalSettings(bars=2, min_bars=3)


# ----------------------------------------------------------------- the command line
@pytest.fixture
def debug_rnn_dir(debug_rnn, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the session's debug RNN was written to."""
    (config,) = tmp_path_factory.getbasetemp().glob(f"models[0-9]*/{debug_rnn.name}/config.json")
    return config.parent


def test_cli_evaluate_writes_the_report(debug_rnn_dir: Path, midi_folder: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from musicgen.__main__ import main

    model_dir = str(debug_rnn_dir)
    out = tmp_path / "report"
    code = main(["evaluate", "--model", model_dir, "--corpus", str(midi_folder), "--samples", "4", "--bars", "2",
                 "--seed-bars", "1", "--report", str(out), "--json", str(tmp_path / "r.json"), "--device", "cpu"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "two-sample accuracy" in printed and "| bar metric |" in printed
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["pieces"]["seeds"] == 4 and report["corpus"] == str(midi_folder.resolve())
    assert (out / "report.md").is_file()


def test_cli_evaluate_seeds_from_the_validation_split_when_asked(debug_rnn_dir: Path, midi_folder: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from musicgen.__main__ import main

    code = main(["evaluate", "--model", str(debug_rnn_dir), "--corpus", str(midi_folder), "--split", "valid",
                 "--no-copy-guard", "--top-p", "0.9", "--samples", "4", "--bars", "2", "--seed-bars", "1"])
    assert code != 0  # the folder has 2 validation tunes, and evaluation needs 4 seeds
    assert "(valid) split" in capsys.readouterr().err


def test_cli_evaluate_asks_for_the_corpus_when_the_card_does_not_name_one(
        debug_rnn_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from musicgen.__main__ import main

    assert main(["evaluate", "--model", str(debug_rnn_dir), "--samples", "4", "--device", "cpu"]) == 2
    assert "--corpus" in capsys.readouterr().err


def test_cli_evaluate_benchmark_path_is_still_there(debug_rnn_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from musicgen.__main__ import main

    assert main(["evaluate", "--benchmark", "jsb", "--model", str(debug_rnn_dir), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "negative log-likelihood per frame" in printed and "| Note unigram, this code (sanity check) |" in printed


@pytest.mark.parametrize("argv", [
    ["evaluate"],
    ["evaluate", "--model", "no-such-model"],
    ["evaluate", "--model", "rnn-folk", "--bars", "0"],
], ids=["no-model", "unknown-model", "bad-bars"])
def test_cli_evaluate_refuses_bad_requests_in_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from musicgen.__main__ import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err


def test_find_report_reads_the_users_report() -> None:
    assert find_report("no-such-model") is None
    folder = default_report_dir("my-model")
    assert folder.is_relative_to(data_dir())
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(to_json({"model": "my-model", "overlap": float("nan")}))
    assert find_report("my-model") == {"model": "my-model", "overlap": None}
    assert find_report_dir("my-model") == folder


def test_the_app_builds_a_copy_index_in_a_process_of_its_own(debug_rnn_dir: Path, midi_folder: Path,
                                                             tmp_path: Path) -> None:
    import shutil

    from musicgen.originality import OriginalityError, build_in_subprocess, ready_copy_index

    model, tunes = tmp_path / "folder-model", tmp_path / "tunes"  # a corpus no earlier test has indexed
    shutil.copytree(debug_rnn_dir, model)
    shutil.copytree(midi_folder, tunes)
    card = json.loads((model / "card.json").read_text())
    (model / "card.json").write_text(json.dumps({**card, "corpus": str(tunes)}))
    assert ready_copy_index(model) is None
    build_in_subprocess(str(model))
    index = ready_copy_index(model)  # read from the cache the other process wrote
    assert index is not None and index.check(load_midi(next(tunes.glob("*.mid")))).bars >= 0
    (model / "card.json").write_text(json.dumps({**card, "corpus": str(tmp_path / "gone")}))
    with pytest.raises(OriginalityError, match="failed"):
        build_in_subprocess(str(model))
