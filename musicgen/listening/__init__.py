"""The listening test ("human or machine?") and ratings of takes, kept in SQLite.

- :mod:`.db`: the database (schema, migrations, answers, ratings, results, CSV).
- :mod:`.quiz`: rounds, answers and the score against chance (pure logic).
- :mod:`.pool`: excerpt pairs from held-out pieces, made ahead (needs torch).
- :mod:`.ratings`: what a rating records, and regenerating the rated take.
- :mod:`.report`: per-model figures for the app and the CLI.
"""

from __future__ import annotations

from .db import (
    Answer,
    DatabaseCorrupt,
    DatabaseUnwritable,
    ListeningDB,
    ListeningDBError,
    ModelResult,
    Rating,
    RecordError,
)
from .quiz import ROUNDS, Quiz, QuizError, QuizRound, QuizScore, plan_rounds, wilson_interval
from .report import format_report, model_results, result_rows

__all__ = [
    "ROUNDS",
    "Answer",
    "DatabaseCorrupt",
    "DatabaseUnwritable",
    "ListeningDB",
    "ListeningDBError",
    "ModelResult",
    "Quiz",
    "QuizError",
    "QuizRound",
    "QuizScore",
    "Rating",
    "RecordError",
    "format_report",
    "model_results",
    "plan_rounds",
    "result_rows",
    "wilson_interval",
]
