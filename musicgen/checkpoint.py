"""Checkpoints: safetensors weights, the JSON config that rebuilds the model, a card.

Nothing here unpickles: weights are safetensors, the config and card are JSON, and
the training state for resuming is read with ``torch.load(weights_only=True)``.
Every file is written to a temporary name and moved into place, so a kill in the
middle of a write never leaves a half-written checkpoint.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import MusicgenError

FORMAT = 1
WEIGHTS, CONFIG, CARD, CARD_MD = "model.safetensors", "config.json", "card.json", "card.md"
TRAIN_STATE = "train_state.pt"


class CheckpointError(MusicgenError):
    """A checkpoint that cannot be read; the message says what is wrong."""


def atomic_write(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` then move the file to ``path`` in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes files private; a model is no secret
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_model(folder: Path, family: str, config: dict[str, Any], weights: dict[str, torch.Tensor],
               card: dict[str, Any]) -> None:
    """Write weights, config and card (JSON and Markdown) into ``folder``."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in weights.items()}
    atomic_write(folder / WEIGHTS, lambda p: save_file(tensors, str(p), metadata={"family": family}))
    meta = {"format": FORMAT, "family": family, "config": config}
    atomic_write(folder / CONFIG, lambda p: p.write_text(json.dumps(meta, indent=2) + "\n"))
    atomic_write(folder / CARD, lambda p: p.write_text(json.dumps(card, indent=2) + "\n"))
    atomic_write(folder / CARD_MD, lambda p: p.write_text(card_markdown(folder.name, card)))


def load_model_files(folder: Path) -> tuple[str, dict[str, Any], dict[str, torch.Tensor], dict[str, Any]]:
    """``(family, config, weights, card)`` of a saved model."""
    missing = [name for name in (CONFIG, WEIGHTS) if not (folder / name).is_file()]
    if missing:
        raise CheckpointError(f"The model in {folder} is incomplete ({', '.join(missing)} missing). Train it again.")
    try:
        meta = json.loads((folder / CONFIG).read_text())
        weights = load_file(str(folder / WEIGHTS))
    except (json.JSONDecodeError, SafetensorError, OSError, RuntimeError) as exc:
        raise CheckpointError(f"The model in {folder} is damaged ({exc}). Train it again.") from exc
    if meta.get("format") != FORMAT or "family" not in meta:
        raise CheckpointError(f"The model in {folder} was saved in a format this version cannot read.")
    card_path = folder / CARD
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    return meta["family"], meta["config"], weights, card


def save_train_state(path: Path, state: dict[str, Any]) -> None:
    """The state a resumed run needs (weights, optimizer, step...), atomically."""
    atomic_write(path, lambda p: torch.save(state, p))


def load_train_state(path: Path) -> dict[str, Any]:
    """Read what :func:`save_train_state` wrote; tensors and plain data only."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a damaged file
        raise CheckpointError(f"The training state {path} is damaged ({type(exc).__name__}); "
                              "delete it to start over.") from exc


def card_markdown(name: str, card: dict[str, Any]) -> str:
    """A model card as Markdown."""
    lines = [f"# {name}", ""]
    if card.get("description"):
        lines += [card["description"], ""]
    for key, value in card.items():
        if key in ("description", "config"):
            continue
        lines.append(f"- **{key.replace('_', ' ')}**: {value}")
    if "config" in card:
        lines += ["", "```json", json.dumps(card["config"], indent=2), "```"]
    return "\n".join(lines) + "\n"
