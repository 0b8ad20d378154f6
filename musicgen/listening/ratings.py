"""Ratings of Compose takes: what is recorded, and regenerating a rated take from it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace
from typing import Any

from ..midi import load_midi, score_to_bytes
from ..sampling import SampleParams
from ..score import Score, Track
from .db import Rating


def anonymous_seed(seed: Score) -> bytes:
    """The seed as MIDI bytes with its track names blanked (they may hold a name);
    the notes, tempo, meter and instruments stay, so the take can be made again."""
    blank = tuple(Track(f"Track {i + 1}", t.program, t.is_drum) for i, t in enumerate(seed.tracks))
    return score_to_bytes(replace(seed, tracks=blank))


def make_rating(session_id: str, take_id: str, model: str, stars: int, take: int, params: SampleParams,
                seed_name: str, seed: Score, program: int | None = None, comment: str | None = None) -> Rating:
    """A :class:`Rating` of take number ``take`` (from 0) of a generation."""
    midi = anonymous_seed(seed)
    text = (comment or "").strip() or None
    return Rating(session_id, take_id, model, stars, take, asdict(params), seed_name,
                  hashlib.sha256(midi).hexdigest(), midi, program, text)


def rating_params(row: dict[str, Any]) -> SampleParams:
    """The SampleParams stored with a rating (a database row)."""
    return SampleParams(**json.loads(row["params"]))


def regenerate(row: dict[str, Any], device: str | None = None) -> Score:
    """The rated take, made again from a ratings row: same model, seed, settings and random seed."""
    from ..generate import generate, load_model

    model = load_model(row["model"], device=device)
    takes = generate(model, load_midi(bytes(row["seed_midi"])), rating_params(row))
    return takes[row["take"]]
