"""A debug RNN that really learned from the JSB chorales' training split, so the
listening test can take its excerpts from the benchmark's held-out test split."""

from __future__ import annotations

from pathlib import Path

from musicgen.benchmark import JSB_RNN, load_jsb
from musicgen.models.registry import get_family
from musicgen.train import TrainConfig, train


def train_debug_jsb_rnn(out: Path, steps: int = 20) -> Path:
    """Train for a few seconds on 24 training chorales; the card says ``corpus: jsb``."""
    data = load_jsb()
    family = get_family("rnn")
    config = family.make_config("debug", **JSB_RNN)
    train(family, config, data["train"][:24], data["valid"][:4], out,
          TrainConfig(steps=steps, batch_size=8, eval_every=steps, checkpoint_every=steps, warmup=5, lr=1e-2),
          device="cpu", card={"corpus": "jsb", "description": "debug RNN on JSB chorales"})
    return out
