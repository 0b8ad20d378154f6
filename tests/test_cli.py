"""The command line: output for good files, one error line and exit 2 for bad ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from smfbytes import VALID

from musicgen.__main__ import main

ROOT = Path(__file__).resolve().parent.parent
CHORALE = ROOT / "assets" / "examples" / "bach-chorale-bwv66.6-opening.mid"


def test_info_describes_a_chorale(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(CHORALE)]) == 0
    out = capsys.readouterr().out
    for expected in ("tracks:   4", "Soprano", "Bass", "meter:    4/4", "tempo:    96 BPM", "key:"):
        assert expected in out


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty"), (b"\x89PNG\r\n\x1a\n....", "PNG"), (VALID[:30], "cut off"),
], ids=["empty", "png", "truncated"])
def test_bad_file_gives_one_error_line_and_exit_2(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.mid"
    path.write_bytes(content)
    done = subprocess.run([sys.executable, "-m", "musicgen", "info", str(path)], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


@pytest.mark.parametrize("argv", [[], ["nonsense"], ["info"], ["info", "a.mid", "--bogus"]],
                         ids=["no-command", "unknown-command", "missing-file", "unknown-option"])
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")


def test_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "does-not-exist.mid"]) == 2
    assert "no file at" in capsys.readouterr().err


def _cli(*args: str, data: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MUSICGEN_DATA_DIR": str(data), "MUSICGEN_DEVICE": "cpu"}
    return subprocess.run([sys.executable, "-m", "musicgen", *args], cwd=ROOT, capture_output=True, text=True,
                          check=False, env=env, timeout=300)


def test_train_then_list_then_generate(tmp_path: Path) -> None:
    songs = tmp_path / "songs"
    songs.mkdir()
    for path in (ROOT / "assets" / "examples").glob("*.mid"):
        (songs / path.name).write_bytes(path.read_bytes())
    (songs / "broken.mid").write_bytes(b"not midi")
    trained = _cli("train", "--model", "rnn", "--corpus", str(songs), "--size", "debug", "--steps", "20",
                   "--eval-every", "10", "--name", "mine", data=tmp_path / "data")
    assert trained.returncode == 0, trained.stderr
    assert "broken.mid" in trained.stderr and "saved in" in trained.stdout
    listed = _cli("models", data=tmp_path / "data")
    assert listed.returncode == 0 and "mine (yours)" in listed.stdout and "rnn-jsb (shipped)" in listed.stdout
    out = tmp_path / "takes"
    made = _cli("generate", "--model", "mine", "--seed", str(CHORALE), "--bars", "2", "--variations", "2",
                "--out", str(out), "--wav", data=tmp_path / "data")
    assert made.returncode == 0, made.stderr
    mids = sorted(out.glob("*.mid"))
    assert len(mids) == 2 and len(list(out.glob("*.wav"))) == 2
    from musicgen.midi import load_midi

    take = load_midi(mids[0])
    assert take.n_bars >= load_midi(CHORALE).n_bars + 2
    tuned = _cli("train", "--model", "rnn", "--corpus", str(songs), "--init-from", "mine", "--steps", "10",
                 "--eval-every", "10", "--lr", "5e-4", "--name", "mine-tuned", data=tmp_path / "data")
    assert tuned.returncode == 0, tuned.stderr
    card = json.loads((tmp_path / "data" / "models" / "mine-tuned" / "card.json").read_text())
    assert card["fine_tuned_from"] == "mine" and card["size"] == "debug"
    assert card["validation_loss"] <= card["validation_loss_before"]
    wrong = _cli("train", "--model", "gan", "--corpus", str(songs), "--init-from", "mine", data=tmp_path / "data")
    assert wrong.returncode == 2 and wrong.stderr.strip() == (
        "error: mine is an RNN: fine-tune it as one (--model rnn), not as a GAN.")


@pytest.mark.parametrize("argv", [
    ["generate", "--model", "nobody"],
    ["generate", "--model", "x", "--bars", "40"],
    ["train", "--model", "gpt", "--corpus", "bach"],
    ["train", "--model", "rnn", "--corpus", "/no/such/folder", "--size", "debug"],
], ids=["unknown-model", "too-many-bars", "unknown-family", "missing-corpus"])
def test_engine_commands_refuse_bad_input_in_one_line(argv: list[str], tmp_path: Path) -> None:
    done = _cli(*argv, data=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr


def test_generate_draws_again_the_take_that_copies_a_training_chorale(tmp_path: Path) -> None:
    """rnn-jsb's third first draw from BWV 66.6's opening copies 2.5 bars of a training chorale's tune."""
    from musicgen.midi import load_midi
    from musicgen.originality import originality_of

    seed = ROOT / "assets" / "examples" / "bach-chorale-bwv66.6-opening.mid"
    args = ["generate", "--model", "rnn-jsb", "--seed", str(seed), "--bars", "8", "--variations", "4",
            "--device", "cpu"]
    assert main([*args, "--out", str(tmp_path / "guarded")]) == 0
    assert main([*args, "--out", str(tmp_path / "raw"), "--allow-copies"]) == 0
    name = "bach-chorale-bwv66.6-opening-rnn-jsb-{}.mid"
    guarded = [load_midi(tmp_path / "guarded" / name.format(i)) for i in range(1, 5)]
    raw = [load_midi(tmp_path / "raw" / name.format(i)) for i in range(1, 5)]
    start = load_midi(seed).padded_to_bar().length
    flagged = [originality_of(t, "rnn-jsb", start_step=start).flagged for t in raw]
    assert any(flagged)  # [False, False, True, False] on this project's machine
    assert not any(originality_of(t, "rnn-jsb", start_step=start).flagged for t in guarded)
    assert [g.notes != r.notes for g, r in zip(guarded, raw, strict=True)] == flagged  # only copies redrawn
