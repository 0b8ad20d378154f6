"""How each model fares with listeners: the figures the Models page, the Listen page
and ``python -m musicgen listening-report`` show."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .db import ListeningDB, ModelResult

ACCURACY_MEANING = ("accuracy: how often listeners picked the human-written excerpt "
                    "(50% means they could not tell the model from the real thing)")


def model_results(path: str | Path | None = None) -> dict[str, ModelResult]:
    """Per model name: listening-test accuracy with its 95% Wilson interval and ``n``, and the
    mean rating of its Compose takes. Models nobody has heard or rated are absent.

    Raises
    ------
    ListeningDBError
        When the database is damaged or cannot be created (the message says what to do).
    """
    return {r.model: r for r in ListeningDB(path).results()}


def _percent(x: float | None) -> str:
    return "" if x is None else f"{x:.0%}"


def result_rows(results: list[ModelResult]) -> list[dict[str, str | int]]:
    """One display row per model, with readable columns."""
    return [{"model": r.model, "answers": r.answers, "accuracy": _percent(r.accuracy),
             "95% interval": f"{_percent(r.ci_low)}–{_percent(r.ci_high)}" if r.answers else "",
             "ratings": r.ratings, "mean rating": f"{r.mean_rating:.2f}" if r.mean_rating is not None else ""}
            for r in results]


def format_report(results: list[ModelResult]) -> str:
    """A plain-text table, one line per model."""
    if not results:
        return "no answers or ratings yet: take the listening test on the app's Listen page"
    rows = result_rows(results)
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns).rstrip()]
    lines += ["  ".join(str(r[c]).ljust(widths[c]) for c in columns).rstrip() for r in rows]
    return "\n".join([*lines, "", ACCURACY_MEANING])


# ----------------------------------------------------------------- python -m musicgen listening-report
def add_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of ``listening-report``."""
    p.add_argument("--json", type=Path, help="also write the per-model figures as JSON here")
    p.add_argument("--csv", type=Path, help="also write every answer of the listening test as CSV here")
    p.add_argument("--ratings-csv", type=Path, help="also write every rating of a take as CSV here")
    p.add_argument("--db", type=Path, help="the database (default: listening.sqlite3 in the data folder)")


def run(args: argparse.Namespace) -> int:
    """Print the per-model table; write the JSON and CSV files asked for."""
    db = ListeningDB(args.db)
    results = db.results()
    print(format_report(results))
    outputs = [(args.json, lambda: json.dumps([r.to_dict() for r in results], indent=2) + "\n"),
               (args.csv, lambda: db.export_csv("answers")), (args.ratings_csv, lambda: db.export_csv("ratings"))]
    for path, text in outputs:
        if path is not None:
            path.write_text(text())
            print(f"wrote {path}")
    return 0
