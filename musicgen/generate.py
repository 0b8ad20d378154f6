"""Loading models and generating music: the API the app and the CLI share.

    model = load_model("rnn-bach")            # device=None: the best there is
    takes = generate(model, seed, SampleParams(bars=8, n_variations=4, random_seed=7))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checkpoint import load_model_files
from .midi import check_seed
from .models.base import ModelFamily
from .models.registry import get_family, resolve_model
from .sampling import SampleParams, choose_device
from .score import Score


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to generate: read-only, in inference mode, on its device."""

    name: str
    family: ModelFamily
    config: Any
    network: nn.Module
    card: dict[str, Any]
    device: torch.device


def load_model(name_or_path: str | Path, device: str | torch.device | None = None) -> LoadedModel:
    """Load a shipped or trained model by name, or a model folder by path.

    Weights come from safetensors (no unpickling). The network is put in eval mode
    with gradients off, so one loaded model can serve many threads at once. It
    stays in float32 on every device: half precision changes which notes get
    sampled, and the same settings must give the same music.
    """
    folder = resolve_model(name_or_path)
    family_name, config_dict, weights, card = load_model_files(folder)
    family = get_family(family_name)
    config = family.config_from_dict(config_dict)
    dev = choose_device(device)
    network = family.build(config)
    network.load_state_dict(weights)
    network.to(dev).eval().requires_grad_(False)
    return LoadedModel(folder.name, family, config, network, card, dev)


def generate(model: LoadedModel, seed: Score | None, params: SampleParams | None = None) -> list[Score]:
    """``params.n_variations`` pieces: each is the seed, unchanged, then new music.

    The same model, seed and params give the same music on the same device.
    """
    params = params or SampleParams()
    if seed is not None:
        check_seed(seed)
    return model.family.generate(model.network, model.config, seed, params, model.device)
