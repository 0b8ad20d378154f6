"""The shared training loop: learning, checkpoints, resume, cancel, early stop, DDP."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from enginefixtures import tiny_corpus, train_debug_rnn

from musicgen import checkpoint
from musicgen.checkpoint import CheckpointError, load_model_files, load_train_state
from musicgen.generate import load_model
from musicgen.models.registry import get_family
from musicgen.train import TrainConfig, TrainingError, train

ROOT = Path(__file__).resolve().parent.parent


def test_training_lowers_the_validation_loss_and_writes_everything(tmp_path: Path) -> None:
    seen = []
    _, result = train_debug_rnn(tmp_path / "m", steps=80, progress=seen.append)
    losses = [h["val_loss"] for h in result.history]
    assert result.status == "finished" and result.steps == 80
    assert losses[-1] < 0.8 * losses[0]
    assert [p.step for p in seen] == list(range(1, 81))
    for name in ("model.safetensors", "config.json", "card.json", "card.md", "log.csv", "log.json",
                 "train_state.pt"):
        assert (tmp_path / "m" / name).is_file(), name
    card = json.loads((tmp_path / "m" / "card.json").read_text())
    assert card["family"] == "rnn" and card["corpus"] == "tiny" and card["validation_loss"] == round(min(losses), 4)
    assert len((tmp_path / "m" / "log.csv").read_text().splitlines()) == 1 + len(result.history)


def test_the_saved_config_rebuilds_the_model_exactly(tmp_path: Path) -> None:
    train_debug_rnn(tmp_path / "m", steps=20)
    family, config, weights, _ = load_model_files(tmp_path / "m")
    rebuilt = get_family(family).build(get_family(family).config_from_dict(config))
    rebuilt.load_state_dict(weights)  # strict: every tensor fits
    loaded = load_model(tmp_path / "m", device="cpu")
    assert all(torch.equal(a, b) for a, b in zip(rebuilt.state_dict().values(),
                                                  loaded.network.state_dict().values(), strict=True))
    assert not loaded.network.training


def test_cancel_then_resume_continues_where_it_stopped(tmp_path: Path) -> None:
    steps = []
    _, first = train_debug_rnn(tmp_path / "m", steps=40, progress=lambda p: steps.append(p.step),
                               should_stop=lambda: len(steps) >= 25)
    assert first.status == "cancelled" and first.steps == 25
    assert load_train_state(tmp_path / "m" / "train_state.pt")["step"] == 25
    _, second = train_debug_rnn(tmp_path / "m", steps=40, progress=lambda p: steps.append(p.step))
    assert second.status == "finished" and steps[25] == 26 and steps[-1] == 40
    assert [h["step"] for h in second.history] == [20, 40]


def test_early_stopping(tmp_path: Path) -> None:
    corpus = tiny_corpus()
    family = get_family("rnn")
    config = family.make_config("debug")
    result = train(family, config, corpus.split("train"), corpus.split("valid"), tmp_path,
                   TrainConfig(steps=200, lr=0.0, warmup=1, eval_every=10, patience=2), device="cpu")
    assert result.status == "early-stopped" and result.steps == 30


def test_a_kill_during_a_write_leaves_the_last_checkpoint_whole(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    train_debug_rnn(tmp_path / "m", steps=20)
    before = load_model_files(tmp_path / "m")[2]

    def dies(tensors, path, metadata=None):
        Path(path).write_bytes(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "save_file", dies)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_model(tmp_path / "m", "rnn", {}, {"x": torch.zeros(1)}, {})
    after = load_model_files(tmp_path / "m")[2]
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert not list((tmp_path / "m").glob("*.tmp"))


def test_damaged_checkpoints_give_a_clear_error(tmp_path: Path) -> None:
    train_debug_rnn(tmp_path / "m", steps=20)
    (tmp_path / "m" / "model.safetensors").write_bytes(b"garbage" * 10)
    with pytest.raises(CheckpointError, match="damaged"):
        load_model(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="missing"):
        load_model(tmp_path / "m")


def test_training_state_is_never_unpickled(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "train_state.pt"
    torch.save({"model": {}, "evil": Evil()}, path)
    with pytest.raises(CheckpointError):
        load_train_state(path)


def test_too_little_music_is_refused(tmp_path: Path) -> None:
    family = get_family("rnn")
    with pytest.raises(TrainingError, match="not enough music"):
        train(family, family.make_config("debug"), tiny_corpus().split("train"), [], tmp_path, device="cpu")


def test_data_parallel_replicas_hold_identical_weights(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
         str(ROOT / "tests" / "ddp_worker.py"), str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    digests = {(tmp_path / f"rank{r}.sha256").read_text() for r in (0, 1)}
    assert len(digests) == 1
    assert (tmp_path / "model" / "model.safetensors").is_file()
