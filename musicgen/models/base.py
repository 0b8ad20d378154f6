"""What a model family supplies to the shared engine.

A family is a model file and a recipe: its config, how to build the network, how
to turn a corpus into training examples, its loss, and how it generates. Training
(``train.py``), checkpoints (``checkpoint.py``) and generation (``generate.py``)
are shared by every family.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, fields
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.data import Dataset

from ..constraints import NotSupported, Plan
from ..sampling import SampleParams
from ..score import Note, Score, ScoreError


class ModelFamily(ABC):
    """One kind of model (RNN, GAN...): everything the engine needs from it."""

    name: ClassVar[str]
    config_type: ClassVar[type]
    sizes: ClassVar[dict[str, dict[str, Any]]]  # named configs; "debug" is tiny, for tests

    def make_config(self, size: str = "debug", **overrides: Any) -> Any:
        """A config by size name, with fields overridden."""
        if size not in self.sizes:
            raise ValueError(f"Unknown size {size!r} for {self.name}: use one of {', '.join(self.sizes)}.")
        return self.config_type(**{**self.sizes[size], **overrides})

    def config_to_dict(self, config: Any) -> dict[str, Any]:
        return asdict(config)

    def config_from_dict(self, data: dict[str, Any]) -> Any:
        known = {f.name for f in fields(self.config_type)}
        return self.config_type(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in known})

    @abstractmethod
    def build(self, config: Any) -> nn.Module:
        """A freshly initialized network for the config."""

    @abstractmethod
    def dataset(self, scores: list[Score], config: Any, train: bool) -> Dataset:
        """Training (with augmentation) or validation examples from scores."""

    @abstractmethod
    def loss(self, model: nn.Module, batch: Any, device: torch.device) -> tuple[torch.Tensor, dict[str, float]]:
        """Mean loss of a batch (to minimize) and figures to log."""

    @abstractmethod
    def generate(self, model: nn.Module, config: Any, seed: Score | None, params: SampleParams,
                 device: torch.device) -> list[Score]:
        """``params.n_variations`` continuations of ``seed``, as one batch."""

    def optimizers(self, net: nn.Module, lr: float, weight_decay: float) -> dict[str, torch.optim.Optimizer] | None:
        """Optimizers of a family that trains in steps of its own (a GAN's critic and
        generator), by name; ``None`` (the default): the loop minimizes :meth:`loss` with AdamW.

        The loop scales every group's learning rate by its warm-up and cosine schedule.
        """
        return None

    def train_step(self, model: nn.Module, batch: Any, device: torch.device,
                   optimizers: dict[str, torch.optim.Optimizer], grad_clip: float) -> tuple[float, dict[str, float]]:
        """One training step with the optimizers of :meth:`optimizers`: the loss to log and figures."""
        raise NotImplementedError(f"The {self.name} family trains through loss().")

    def collate(self, items: list[Any]) -> Any:
        """Stack dataset items into a batch (default: torch's)."""
        return torch.utils.data.default_collate(items)

    def sample_constrained(self, model: nn.Module, config: Any, plan: Plan, params: SampleParams,
                           device: torch.device) -> list[list[Note]]:
        """New notes around ``plan``'s fixed notes (harmonize, lock), one list per variation.

        The notes are on the plan's grid and in its pitch, inside its free steps and
        under its ceiling; ``constraints.assemble`` puts each list beside the fixed
        notes. Families that cannot do it keep this default, a clear error.
        """
        raise NotSupported(f"{self.name.upper()} models cannot yet write around notes you keep "
                           "(harmonize, lock): pick an RNN model.")


# Key normalization, for any family whose config has ``key_normalized``: it learns its corpus in
# C major / C minor, and a seed (or music to write around) is moved there and back.
def home_key_shift(score: Score) -> int:
    """Semitones (-6..5) that move the score's key to C major or C minor (0 without pitched notes).

    The JSB data, which key-normalized models learn from, hold every chorale in C
    major or C minor (the final bass note is C in 283 of its 305 train and valid chorales).
    """
    if not score.has_pitched_notes:
        return 0
    return tonic_shift(score.estimate_key().tonic)


def to_home_key(score: Score) -> Score:
    """The score moved to C major or C minor (:func:`home_key_shift`); as it is if that leaves MIDI's range."""
    try:
        return score.transpose(home_key_shift(score))
    except ScoreError:
        return score


def tonic_shift(tonic: int) -> int:
    """Semitones (-6..5) that move a key with this tonic (pitch class) to C."""
    shift = -tonic % 12
    return shift - 12 if shift > 5 else shift
