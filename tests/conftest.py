"""Shared test settings: deterministic hypothesis, CPU only, no user data touched."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Same examples on every run: a test either always passes or always fails.
settings.register_profile(
    "deterministic", derandomize=True, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("deterministic")
os.environ.setdefault("MUSICGEN_DEVICE", "cpu")


import pytest


@pytest.fixture(scope="session")
def debug_rnn(tmp_path_factory: pytest.TempPathFactory):
    """A debug-size RNN trained for a few seconds on a tiny corpus, loaded on the CPU."""
    from enginefixtures import train_debug_rnn

    from musicgen.generate import load_model

    folder = tmp_path_factory.mktemp("models") / "rnn-tiny"
    train_debug_rnn(folder)
    return load_model(folder, device="cpu")


@pytest.fixture(scope="session")
def debug_gan(tmp_path_factory: pytest.TempPathFactory):
    """A debug GAN whose window holds a choir (C2 to B5), as it is after 100 steps of training.

    (A debug GAN's bars hardly depend on the latent early on, and variations come from the latents.)
    """
    from enginefixtures import train_debug_gan

    return train_debug_gan(tmp_path_factory.mktemp("models") / "gan-choir", eval_every=100, lowest=36, n_pitches=48)


@pytest.fixture(scope="session")
def user_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A debug RNN where the app looks for the user's models (the isolated data folder)."""
    from enginefixtures import train_debug_rnn

    data = tmp_path_factory.getbasetemp() / "data"
    train_debug_rnn(data / "models" / "aaa-debug-rnn", steps=20)
    return "aaa-debug-rnn"


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read or write the user's own data folder."""
    monkeypatch.setenv("MUSICGEN_DATA_DIR", str(tmp_path_factory.getbasetemp() / "data"))
