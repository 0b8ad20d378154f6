"""Ratings of Compose takes: what is recorded, and regenerating a rated take from it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace
from typing import Any

from ..errors import MusicgenError
from ..lock import Lock
from ..midi import load_midi, score_to_bytes
from ..sampling import SampleParams
from ..score import Score, Track
from .db import Rating


def anonymous_seed(seed: Score) -> bytes:
    """The seed as MIDI bytes with its track names blanked (they may hold a name);
    the notes, tempo, meter and instruments stay, so the take can be made again."""
    blank = tuple(Track(f"Track {i + 1}", t.program, t.is_drum) for i, t in enumerate(seed.tracks))
    return score_to_bytes(replace(seed, tracks=blank))


UPLOADED = "own MIDI file"  # what a rating says of a seed that is not a bundled example


def weights_sha256(model: str) -> str | None:
    """The SHA-256 of a model's weights (None when it has none on disk)."""
    from ..models.registry import resolve_model

    weights = resolve_model(model) / "model.safetensors"
    return hashlib.sha256(weights.read_bytes()).hexdigest() if weights.is_file() else None


def make_rating(session_id: str, take_id: str, model: str, stars: int, take: int, params: SampleParams,
                seed_name: str, seed: Score, program: int | None = None, comment: str | None = None,
                lock: Lock | None = None, model_sha256: str | None = None) -> Rating:
    """A :class:`Rating` of take number ``take`` (from 0) of a generation.

    ``lock``: the take was a rewrite of ``seed`` keeping these bars and tracks. A seed
    that is not a bundled example is recorded as :data:`UPLOADED`, since a file's
    name may hold a person's name.
    """
    from ..examples import list_examples

    midi = anonymous_seed(seed)
    text = (comment or "").strip() or None
    name = seed_name if seed_name in list_examples() else UPLOADED
    kept = None if lock is None else {"bars": list(lock.bars), "tracks": list(lock.tracks)}
    return Rating(session_id, take_id, model, stars, take, asdict(params), name,
                  hashlib.sha256(midi).hexdigest(), midi, program, text, kept, model_sha256)


def rating_params(row: dict[str, Any]) -> SampleParams:
    """The SampleParams stored with a rating (a database row)."""
    return SampleParams(**json.loads(row["params"]))


def rating_lock(row: dict[str, Any]) -> Lock | None:
    """What a rewritten take kept (a database row), or None for a plain generation."""
    return Lock(**json.loads(row["lock"])) if row.get("lock") else None


class ModelChanged(MusicgenError):
    """The rated take's model has been retrained since: the take cannot be made again."""


def regenerate(row: dict[str, Any], device: str | None = None) -> Score:
    """The rated take, made again from a ratings row: same model, seed, settings, random
    seed and, for a rewrite, the same bars and tracks kept.

    Raises
    ------
    ModelChanged
        When the row names the weights that made the take and the model's are others now.
    """
    from ..generate import generate, load_model

    if row.get("model_sha256") and weights_sha256(row["model"]) != row["model_sha256"]:
        raise ModelChanged(f"The model {row['model']} was retrained after this take was rated: its weights are "
                           "not the ones that made it, so the take cannot be made again.")
    model = load_model(row["model"], device=device)
    takes = generate(model, load_midi(bytes(row["seed_midi"])), rating_params(row), lock=rating_lock(row))
    return takes[row["take"]]
