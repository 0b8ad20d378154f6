"""The benchmark suite's output: its tables and JSON, on a tiny run (debug model, one repeat). Never a time."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
import soundfile
import torch

from musicgen import bench_models, bench_step
from musicgen.__main__ import main
from musicgen.audio import PLAYER_RATE
from musicgen.bench import BenchSettings, Check, Result, check, format_checks, format_table, run
from musicgen.bench_models import _memory_probe, memory_checks, new_music_seconds, peak_memory_mb, serve_request
from musicgen.midi import load_midi, score_to_bytes
from musicgen.sampling import SampleParams
from musicgen.score import Score, Track

# One bar of a C major chord under a rising line, sixteenth-note steps: (pitch, velocity, start, end).
ONE_BAR = [(48, 80, 0, 16), (55, 80, 0, 16), (64, 80, 0, 8), (67, 80, 8, 16), (72, 80, 0, 4), (74, 80, 4, 8)]


@pytest.fixture(scope="module")
def seed_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bench") / "seed.mid"
    path.write_bytes(score_to_bytes(Score.from_tuples(ONE_BAR, tracks=(Track("Piano", 0),), bpm=120)))
    return path


@pytest.fixture(scope="module")
def debug_dir(debug_rnn, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the session's debug RNN was written to."""
    (config,) = tmp_path_factory.getbasetemp().glob(f"models[0-9]*/{debug_rnn.name}/config.json")
    return config.parent


@pytest.fixture(scope="module")
def tiny_run(debug_dir: Path, seed_file: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    """The models, request and step suites on the debug model, bars=1, repeat 1."""
    folder = str(debug_dir)
    out = tmp_path_factory.mktemp("bench-out") / "bench.json"
    mp = pytest.MonkeyPatch()
    mp.setattr(bench_step, "STEPS_PER_RUN", 3)
    mp.setattr(bench_step, "BIG_COPY_FLOATS", 2**16)
    mp.setattr(bench_models, "VARIATIONS", 3)
    mp.setattr(bench_models, "REQUEST_VARIATIONS", 1)
    try:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            run(["models", "request", "step"],
                BenchSettings(repeat=1, device="cpu", models=(folder,), seed=seed_file, bars=1), json_path=out)
    finally:
        mp.undo()
    return json.loads(out.read_text()), printed.getvalue()


def test_json_records_machine_settings_results_and_checks(tiny_run: tuple[dict, str]) -> None:
    payload, _ = tiny_run
    assert {"cpu", "cores", "device", "torch_threads", "load_average", "load_average_before"} <= set(payload["machine"])
    assert payload["machine"]["device"].startswith("CPU")
    assert payload["settings"]["repeat"] == 1 and payload["settings"]["bars"] == 1
    suites = {r["suite"] for r in payload["results"]}
    assert suites == {"models", "request", "step"}
    for r in payload["results"]:
        assert r["runs"] == 1 and 0 < r["min_s"] <= r["median_s"] <= r["max_s"]
    for c in payload["checks"]:
        assert set(c) == {"suite", "label", "value", "unit", "target", "met"}
        assert (c["met"] is None) == (c["target"] == "")


def test_models_suite_times_batched_one_at_a_time_and_the_plain_path(tiny_run: tuple[dict, str]) -> None:
    payload, _ = tiny_run
    cases = [r["case"] for r in payload["results"] if r["suite"] == "models"]
    assert any(c.endswith(": load") for c in cases)
    for kind in ("batched", "one at a time", "batched, nn.LSTM per token"):
        assert any(c.endswith(f"1 bars x 3 variations, {kind}") for c in cases), kind
    labels = {c["label"].split(": ", 1)[1]: c for c in payload["checks"] if c["suite"] == "models"}
    assert labels["batched vs one at a time"]["target"] == ">= 3x"
    assert labels["real time, one stream"]["target"] == ">= 20x"
    generated = [r for r in payload["results"] if "variations" in r["case"]]
    assert all(r["realtime"] > 0 for r in generated)


def test_request_suite_reports_each_stage_against_the_rnn_target(tiny_run: tuple[dict, str]) -> None:
    payload, _ = tiny_run
    again, first = [r for r in payload["results"] if r["suite"] == "request"]
    suffix = ", seed's audio not yet played"
    assert suffix in first["case"] and first["case"].replace(suffix, "") == again["case"]
    for request in (again, first):
        assert set(request["extra"]) == {"read seed ms", "generate ms", "audio ms", "piano rolls ms", "MIDI ms"}
    target, untargeted = [c for c in payload["checks"] if c["suite"] == "request"]
    assert target["label"].endswith("whole request path") and target["target"] == "<= 1.5 s"
    assert untargeted["label"].endswith("seed's audio not yet played") and untargeted["target"] == ""


def test_request_path_gives_what_the_compose_page_shows(debug_rnn, seed_file: Path) -> None:
    stages: dict[str, float] = {}
    request = serve_request(debug_rnn, seed_file.read_bytes(), SampleParams(bars=1, n_variations=2), stages)
    assert len(request.takes) == 2
    for take in request.takes:
        assert take.sound[:4] == b"RIFF" and soundfile.info(io.BytesIO(take.sound)).samplerate == PLAYER_RATE
        assert take.png[:8] == b"\x89PNG\r\n\x1a\n" and load_midi(take.midi) == load_midi(score_to_bytes(take.score))
        assert take.first_new == 1  # the seed's one track, then the model's
    assert list(stages) == ["read seed", "generate", "piano rolls", "MIDI", "audio"]


def test_memory_probe_reports_peaks_the_suite_checks(debug_dir: Path, seed_file: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(bench_models, "REQUEST_VARIATIONS", 1)
    _memory_probe(["--seed", str(seed_file), "--bars", "1", str(debug_dir)])  # in this process: no torch import
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 < figures["imported_mb"] <= figures["peak_mb"]
    checks = memory_checks(figures, 1).checks
    assert [c.label for c in checks] == ["peak memory, engine imported", "peak memory, 1 models loaded, request served"]
    assert checks[1].target == "<= 1500 MB" and checks[1].met == (figures["peak_mb"] <= 1500)


def test_step_suite_has_the_ladder_the_floor_and_the_int8_rung(tiny_run: tuple[dict, str]) -> None:
    payload, printed = tiny_run
    cases = [r["case"].split(": ", 1)[1] for r in payload["results"] if r["suite"] == "step"]
    assert set(bench_step.LADDER) <= set(cases)
    assert "generate(): the whole loop, per token" in cases
    floor = payload["figures"]
    assert floor["floor: FLOPs per step"] > 0 and floor["floor: weight bytes per step"] > 0
    assert floor["floor: floor s"] == max(floor["floor: floor from memory s"], floor["floor: floor from matmul s"])
    labels = {c["label"] for c in payload["checks"] if c["suite"] == "step"}
    assert "RnnStepper step as a multiple of the floor" in labels
    assert "int8: the NLL check needs a model trained on the JSB benchmark; not measured." in printed


def test_printed_tables_are_markdown() -> None:
    results = [Result("models", "a case", 0.002, 0.001, 0.003, 3, music_s=4.0, extra={"k": 1})]
    table = format_table(results).splitlines()
    assert table[0].startswith("| suite | case | median")
    assert table[2] == "| models | a case | 2.0 ms | 1.0 ms | 3.0 ms | 2000x | k 1 |"
    checks = format_checks([check("request", "whole path", 2.0, "s", at_most=1.5),
                            check("models", "speedup", 4.0, "x", at_least=3.0), Check("step", "ratio", 1.5, "x")])
    assert "| request | whole path | 2 s | <= 1.5 s | MISSED |" in checks
    assert "| models | speedup | 4.00x | >= 3x | met |" in checks
    assert checks.splitlines()[-1] == "| step | ratio | 1.50x |  |  |"


def test_new_music_is_counted_in_the_seeds_meter_and_tempo() -> None:
    waltz = Score(bpm=90, time_signature=(3, 4), steps_per_beat=4)
    assert new_music_seconds(waltz, 8) == pytest.approx(8 * 3 * 60 / 90)


def test_peak_memory_is_a_positive_size() -> None:
    assert 10 < peak_memory_mb() < 100_000


@pytest.mark.parametrize(("argv", "message"), [
    pytest.param(["bench", "--suite", "audio,nope"], "there is no suite 'nope'", id="unknown-suite"),
    pytest.param(["bench", "--repeat", "0"], "--repeat must be at least 1", id="no-repeats"),
    pytest.param(["bench", "--device", "cuda"], "No CUDA GPU is available here", id="no-gpu",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="there is a GPU here")),
])
def test_cli_refuses_bad_options(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err
