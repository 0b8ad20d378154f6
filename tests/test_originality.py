"""Originality: the copy index finds copied passages (transposed, on other grids), only after the
seed, survives the disk, is shared by models of one corpus, and its builder never outlives the app."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_evaluate import tune

from musicgen.originality import CopyIndex
from musicgen.score import Score


@pytest.fixture(scope="module")
def index() -> CopyIndex:
    return CopyIndex.build([(f"tune-{k}", tune(k)) for k in range(5)])


def test_a_planted_copy_is_found_with_its_source_and_length(index: CopyIndex) -> None:
    copied = tune(3).crop_bars(1, 4)  # three bars of tune 3
    check = index.check(copied)
    assert check.source == "tune-3" and check.flagged
    assert 2.5 <= check.bars <= 3.0  # the first note's interval leads out of the passage


@pytest.mark.parametrize("semitones", [-7, 5, 12], ids=["down-a-fifth", "up-a-fourth", "up-an-octave"])
def test_a_transposed_copy_is_a_copy(index: CopyIndex, semitones: int) -> None:
    check = index.check(tune(2).crop_bars(0, 4).transpose(semitones))
    assert check.source == "tune-2" and check.bars >= 3.0


def test_a_copy_on_another_grid_is_a_copy(index: CopyIndex) -> None:
    check = index.check(tune(1, steps_per_beat=8).crop_bars(0, 3))  # the same tune at 8 steps per beat
    assert check.source == "tune-1" and check.flagged


def test_new_music_is_not_a_copy(index: CopyIndex) -> None:
    for k in range(100, 105):
        assert not index.check(tune(k)).flagged
    assert index.check(Score(length=16)).bars == 0.0


def test_only_music_after_start_step_counts(index: CopyIndex) -> None:
    take = tune(4).crop_bars(0, 3).concat(tune(101).crop_bars(0, 3))  # a copied seed, then new bars
    assert index.check(take).flagged
    assert not index.check(take, start_step=3 * take.steps_per_bar).flagged


def test_the_index_survives_a_round_trip_on_disk(index: CopyIndex, tmp_path: Path) -> None:
    index.save(tmp_path / "index.npz")
    again = CopyIndex.load(tmp_path / "index.npz")
    assert again is not None and again.names == index.names
    assert again.check(tune(3)) == index.check(tune(3))
    (tmp_path / "bad.npz").write_bytes(b"not an index")
    assert CopyIndex.load(tmp_path / "bad.npz") is None


def test_models_of_one_corpus_share_one_copy_index() -> None:
    from musicgen.originality import copy_index_key

    assert copy_index_key("rnn-folk") == copy_index_key("gan-folk")  # the app builds it once for both
    assert len({copy_index_key(m) for m in ("rnn-folk", "rnn-jsb", "gan-bach")}) == 3


def test_a_worker_ends_itself_and_its_own_workers_when_the_process_that_started_it_ends() -> None:
    import subprocess
    import sys
    import time

    # starter -> worker (its own process group, as build_in_subprocess starts it) -> a corpus reader
    worker = ("import subprocess, sys, time; from musicgen.originality import _exit_with_parent; "
              "_exit_with_parent(int(sys.argv[1])); "
              "reader = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
              "print(reader.pid, flush=True); time.sleep(120)")
    starter = ("import os, subprocess, sys; "
               "p = subprocess.Popen([sys.executable, '-c', sys.argv[1], str(os.getpid())], "
               "stdout=subprocess.PIPE, text=True, start_new_session=True); print(p.pid, p.stdout.readline().strip())")
    pids = [int(p) for p in subprocess.run([sys.executable, "-c", starter, worker], capture_output=True, text=True,
                                           check=True).stdout.split()]

    def gone(pid: int) -> bool:
        status = Path(f"/proc/{pid}/status")
        return not status.exists() or "State:\tZ" in status.read_text()

    deadline = time.monotonic() + 30
    while not all(gone(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(pids) == 2 and all(gone(p) for p in pids)
