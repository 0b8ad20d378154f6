"""What the app shows about a model: its card in a table row, its training curve, its evaluations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .evalreport import find_report_dir
from .models.registry import ModelEntry

BENCHMARK_FILE = "benchmark.json"  # written by `python -m musicgen evaluate --benchmark jsb --model`


def draws_pitches(entry: ModelEntry) -> bool:
    """Whether the model draws its notes' pitches (so temperature and top-p apply): an RNN,
    or a GAN that writes voices' lines (``GanConfig.parts``)."""
    card = entry.card
    return card.get("family", "rnn") != "gan" or bool(card.get("config", {}).get("parts"))


def summary_row(entry: ModelEntry) -> dict[str, Any]:
    """One row of the models table."""
    card = entry.card
    val = card.get("validation_loss")
    return {"model": entry.name, "kind": str(card.get("family", "")).upper(),
            "style": card.get("description", ""), "trained on": card.get("trained_on", ""),
            "steps": card.get("steps"), "validation loss": round(val, 4) if isinstance(val, float) else val,
            "size (MB)": card.get("size_mb"), "from": "shipped" if entry.shipped else "yours"}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def training_history(entry: ModelEntry) -> list[dict[str, float]]:
    """The validation rows the training loop logged (``step``, ``train_loss``, ``val_loss``...)."""
    rows = _read_json(entry.path / "log.json")
    return [r for r in rows if isinstance(r, dict) and "step" in r] if isinstance(rows, list) else []


def evaluation_files(entry: ModelEntry) -> tuple[str | None, list[Path]]:
    """The model's evaluation report as Markdown and its plots (PNG): the user's latest
    (``python -m musicgen evaluate --model NAME``), else the one shipped with the model."""
    folder = find_report_dir(entry.name)
    if folder is None:
        return None, []
    try:
        text = (folder / "report.md").read_text()
    except OSError:
        return None, []
    return text, sorted(folder.glob("*.png"))


def benchmark(entry: ModelEntry) -> dict[str, Any] | None:
    """The model's JSB benchmark figures, if measured."""
    report = _read_json(entry.path / BENCHMARK_FILE)
    return report if isinstance(report, dict) else None
