"""The model families, and the models on disk (shipped and trained by the user)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import MusicgenError
from ..paths import SHIPPED_MODELS, user_models_dir
from .base import ModelFamily
from .gan import GanFamily
from .rnn import RnnFamily

FAMILIES: dict[str, ModelFamily] = {family.name: family for family in (RnnFamily(), GanFamily())}


class ModelNotFound(MusicgenError):
    """No model by that name or path; the message lists what there is."""


def get_family(name: str) -> ModelFamily:
    """A family by name (``"rnn"``...)."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise MusicgenError(f"Unknown model family {name!r}: use one of {', '.join(FAMILIES)}.") from None


@dataclass(frozen=True)
class ModelEntry:
    """A model on disk and its card."""

    name: str
    path: Path
    shipped: bool
    card: dict[str, Any]


def list_models() -> list[ModelEntry]:
    """Shipped models (``assets/models``) then the user's, each with its card."""
    entries = []
    for root, shipped in ((SHIPPED_MODELS, True), (user_models_dir(), False)):
        if not root.is_dir():
            continue
        for folder in sorted(p for p in root.iterdir() if (p / "config.json").is_file()):
            card_path = folder / "card.json"
            try:
                card = json.loads(card_path.read_text()) if card_path.is_file() else {}
            except (OSError, json.JSONDecodeError):
                card = {}
            entries.append(ModelEntry(folder.name, folder, shipped, card))
    return entries


def resolve_model(name_or_path: str | Path) -> Path:
    """The folder of a model given by name (shipped or user's) or by path."""
    path = Path(name_or_path)
    if (path / "config.json").is_file():
        return path
    for entry in list_models():
        if entry.name == str(name_or_path):
            return entry.path
    known = ", ".join(e.name for e in list_models()) or "none yet (train one with python -m musicgen train)"
    raise ModelNotFound(f"There is no model {str(name_or_path)!r}. Models: {known}.")
