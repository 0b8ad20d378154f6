"""The JSB Chorales benchmark (Boulanger-Lewandowski et al., 2012): NLL per frame.

Each chorale is a list of quarter-note frames, each frame the set of sounding
pitches. A frame sequence becomes a Score on a one-step-per-beat grid (runs of a
pitch over consecutive frames are one held note), which the RNN reads as events.
With the masks of ``events.allowed_tokens`` every frame has exactly one spelling,
so a frame's probability is the product of its tokens' probabilities and the
negative log-likelihood per frame is comparable with the published figures.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .corpus import Corpus, Piece
from .paths import ASSETS
from .score import Note, Score, Track

JSB_PATH = ASSETS / "data" / "jsb-chorales-quarter.json"
LOWEST, N_PITCHES = 21, 88  # the 88 piano keys, as in the benchmark
# The config the benchmark model is trained with (fields of models.rnn.RnnConfig).
JSB_RNN = {"steps_per_beat": 1, "steps_per_bar": 1, "lowest": LOWEST, "n_pitches": N_PITCHES,
           "repeat_onsets": False, "transpose": 2, "key_normalized": True, "shared_pitch": True}

# Published negative log-likelihoods per frame (nats) on this split.
PUBLISHED = [
    ("Note unigram (independent Bernoulli per pitch)", 11.06, "Boulanger-Lewandowski et al. 2012"),
    ("RNN", 8.71, "Boulanger-Lewandowski et al. 2012"),
    ("LSTM", 8.45, "Bai, Kolter & Koltun 2018"),
    ("TCN", 8.10, "Bai, Kolter & Koltun 2018"),
    ("RNN-RBM", 6.27, "Boulanger-Lewandowski et al. 2012"),
    ("RNN-NADE", 5.83, "Boulanger-Lewandowski et al. 2012"),
    ("RNN-NADE, Hessian-free optimization", 5.56, "Boulanger-Lewandowski et al. 2012"),
]


def frames_to_score(frames: list[list[int]]) -> Score:
    """Quarter-note frames -> a Score, one step per frame; a pitch held over frames is one note."""
    notes, open_at = [], {}
    for t, frame in enumerate([*frames, []]):
        now = set(frame)
        for pitch in [p for p in open_at if p not in now]:
            start = open_at.pop(pitch)
            notes.append(Note(start, pitch, t - start))
        for pitch in now - set(open_at):
            open_at[pitch] = t
    return Score(tuple(notes), (Track("Chorale", 19),), bpm=80, steps_per_beat=1, length=len(frames))


def load_jsb(path: str | Path = JSB_PATH) -> dict[str, list[Score]]:
    """The benchmark's train/valid/test chorales as Scores."""
    data = json.loads(Path(path).read_text())
    return {split: [frames_to_score(c) for c in data[split]] for split in ("train", "valid", "test")}


def jsb_corpus(path: str | Path = JSB_PATH) -> Corpus:
    """The benchmark as a corpus with its own fixed split."""
    pieces = [Piece(f"jsb/{split}/{i}", score, split)
              for split, scores in load_jsb(path).items() for i, score in enumerate(scores)]
    return Corpus("jsb", pieces)


def frame_rolls(scores: list[Score]) -> np.ndarray:
    """All frames of the scores stacked: ``(total frames, 88)`` bool."""
    rolls = [s.piano_roll()[:, LOWEST:LOWEST + N_PITCHES] for s in scores]
    return np.concatenate(rolls) if rolls else np.zeros((0, N_PITCHES), dtype=bool)


def unigram_nll(train: list[Score], test: list[Score]) -> float:
    """The note-unigram baseline: independent Bernoulli pitches fitted on ``train``
    with add-one smoothing; mean NLL per ``test`` frame in nats."""
    fit = frame_rolls(train)
    q = (fit.sum(axis=0) + 1) / (len(fit) + 2)
    frames = frame_rolls(test)
    log_p = frames * np.log(q) + ~frames * np.log1p(-q)
    return float(-log_p.sum() / len(frames))


def model_nll(model: object, scores: list[Score]) -> float:
    """Mean NLL per frame of a loaded RNN (``generate.LoadedModel``) over ``scores``."""
    total, frames = 0.0, 0
    for score in scores:
        nll, n = model.family.sequence_nll(model.network, model.config, score, model.device)
        total, frames = total + nll, frames + n
    if not math.isfinite(total):
        raise ValueError("the model gives some frame zero probability")
    return total / frames


def jsb_table(models: list[object], path: str | Path = JSB_PATH) -> list[dict[str, object]]:
    """Rows for the benchmark table: the baseline from this code, our models, the literature."""
    data = load_jsb(path)
    rows: list[dict[str, object]] = [{"model": "Note unigram, this code (sanity check)",
                                      "valid": unigram_nll(data["train"], data["valid"]),
                                      "test": unigram_nll(data["train"], data["test"]), "source": "musicgen"}]
    for model in models:
        rows.append({"model": f"{model.name} (musicgen RNN, {model.card.get('parameters', '?'):,} parameters)",
                     "valid": model_nll(model, data["valid"]), "test": model_nll(model, data["test"]),
                     "source": "musicgen"})
    rows += [{"model": name, "valid": None, "test": nll, "source": source} for name, nll, source in PUBLISHED]
    return rows


def format_jsb_table(rows: list[dict[str, object]]) -> str:
    """A Markdown table, best test NLL first."""
    lines = ["| model | valid NLL | test NLL | source |", "|---|---|---|---|"]
    for row in sorted(rows, key=lambda r: r["test"]):
        valid = f"{row['valid']:.2f}" if row["valid"] is not None else ""
        lines.append(f"| {row['model']} | {valid} | {row['test']:.2f} | {row['source']} |")
    return "\n".join(lines)
