"""Loading models and generating music: the API the app and the CLI share.

    model = load_model("rnn-bach")            # device=None: the best there is
    takes = generate(model, seed, SampleParams(bars=8, n_variations=4, random_seed=7))
    takes = generate(model, take, SampleParams(n_variations=4), lock=Lock(bars=(1, 2), tracks=(0,)))
    takes = harmonize(model, melody, SampleParams(n_variations=4))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checkpoint import load_model_files
from .constraints import ConstraintError
from .harmonize import harmonize
from .lock import Lock, regenerate
from .midi import check_seed
from .models.base import ModelFamily
from .models.registry import get_family, resolve_model
from .sampling import SampleParams, choose_device
from .score import Score

__all__ = ["LoadedModel", "Lock", "generate", "harmonize", "load_model"]


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


def generate(model: LoadedModel, seed: Score | None, params: SampleParams | None = None,
             lock: Lock | None = None) -> list[Score]:
    """``params.n_variations`` pieces: each is the seed, unchanged, then new music.

    With ``params.avoid_copies``, takes that copy the model's training music are drawn
    again (:mod:`musicgen.copyguard`); the first use of a model reads its corpus's
    copy index (milliseconds once cached on disk). With ``lock``, the seed is a take
    to rewrite instead: each piece keeps what the lock keeps (bars, tracks) bit for
    bit and has the rest written anew, as long as the take (see ``lock.py``). The
    same model, seed and params give the same music on the same device.
    """
    params = params or SampleParams()
    if lock is not None:
        if seed is None:
            raise ConstraintError("Locking needs a take to keep parts of: give a seed.")
        return regenerate(model, seed, lock, params)
    if seed is not None:
        check_seed(seed)

    def draw(p: SampleParams) -> list[Score]:
        return model.family.generate(model.network, model.config, seed, p, model.device)

    if not params.avoid_copies:
        return draw(params)
    from .copyguard import redraw_copies
    from .originality import copy_index

    start = seed.padded_to_bar().length if seed is not None else 0
    return redraw_copies(draw, params, copy_index(model), start).takes
