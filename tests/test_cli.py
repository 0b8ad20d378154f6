"""The command line: output for good files, one error line and exit 2 for bad ones."""

from __future__ import annotations

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
