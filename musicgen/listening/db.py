"""The listening database: quiz answers and take ratings in SQLite.

One file, ``listening.sqlite3`` in the data folder (``MUSICGEN_DATA_DIR``), shared by
every browser session and process. It runs in WAL mode (readers never block the
writer), waits up to ``timeout`` seconds for a lock, and makes each write one short
``BEGIN IMMEDIATE`` transaction on a connection of its own, so many threads and
processes can write at once and none loses another's row.

The schema has a version (``PRAGMA user_version``); :data:`MIGRATIONS` bring any older
file up to date, in order, each in one transaction. Nothing personal is stored: a
listener is an anonymous per-browser-session id (a random UUID).
"""

from __future__ import annotations

import csv
import io
import json
import random
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

from ..errors import MusicgenError
from ..paths import data_dir

DB_NAME = "listening.sqlite3"
MAX_COMMENT = 2000  # characters


class ListeningDBError(MusicgenError):
    """The listening database cannot be used; the message says what to do."""


class DatabaseCorrupt(ListeningDBError):
    """The database file is damaged or is not a database at all."""


class DatabaseUnwritable(ListeningDBError):
    """The database (or its folder) cannot be created or written."""


class RecordError(MusicgenError, ValueError):
    """An answer or rating with a value out of range; the message gives the range."""


# Each entry brings the schema from version i to i + 1; never edit one that shipped.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: the listening test
        """CREATE TABLE answers (
            id INTEGER PRIMARY KEY,
            created_at TEXT NOT NULL,                                  -- UTC, ISO 8601
            session_id TEXT NOT NULL,                                  -- anonymous: a random UUID per browser session
            quiz_id TEXT NOT NULL,                                     -- one round of 10
            round INTEGER NOT NULL CHECK (round >= 1),
            model TEXT NOT NULL,
            piece TEXT NOT NULL,                                       -- the held-out piece both excerpts come from
            human_slot INTEGER NOT NULL CHECK (human_slot IN (0, 1)),  -- where the real excerpt played: 0 = A, 1 = B
            picked_slot INTEGER NOT NULL CHECK (picked_slot IN (0, 1)),
            correct INTEGER NOT NULL CHECK (correct = (human_slot = picked_slot)),
            confidence INTEGER CHECK (confidence BETWEEN 1 AND 3),     -- 1 guessing .. 3 sure; NULL: not said
            seed_bars INTEGER NOT NULL,
            excerpt_bars INTEGER NOT NULL,
            params TEXT NOT NULL                                       -- the generated excerpt's SampleParams, JSON
        )""",
    ),
    (  # 2: ratings of Compose takes, and indexes for the per-model report
        """CREATE TABLE ratings (
            id INTEGER PRIMARY KEY,
            created_at TEXT NOT NULL,
            session_id TEXT NOT NULL,
            take_id TEXT NOT NULL,                 -- one take of one generation
            model TEXT NOT NULL,
            stars INTEGER NOT NULL CHECK (stars BETWEEN 1 AND 5),
            comment TEXT,
            take INTEGER NOT NULL CHECK (take >= 0),  -- which variation of the generation
            random_seed INTEGER NOT NULL,
            params TEXT NOT NULL,                  -- every SampleParams field (random seed too), JSON
            program INTEGER,                       -- the instrument it played with; NULL: the seed's
            seed_name TEXT NOT NULL,
            seed_sha256 TEXT NOT NULL,
            seed_midi BLOB NOT NULL,               -- the seed (track names blanked), to regenerate the take
            UNIQUE (session_id, take_id)
        )""",
        "CREATE INDEX answers_by_model ON answers (model)",
        "CREATE INDEX ratings_by_model ON ratings (model)",
    ),
    (  # 3: what a rewritten take kept, and which weights made the take
        "ALTER TABLE ratings ADD COLUMN lock TEXT",  # JSON {"bars": [...], "tracks": [...]}; NULL: a plain generation
        "ALTER TABLE ratings ADD COLUMN model_sha256 TEXT",  # of model.safetensors; NULL: not known
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


def default_path() -> Path:
    """Where the database lives: ``data_dir() / "listening.sqlite3"``."""
    return data_dir() / DB_NAME


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _check_session(session_id: str) -> None:
    try:
        uuid.UUID(session_id)
    except (ValueError, TypeError, AttributeError):
        raise RecordError("A listener is known only by an anonymous random id (a UUID).") from None


@dataclass(frozen=True)
class Answer:
    """One round of the listening test, as answered."""

    session_id: str  # anonymous per-browser-session UUID
    quiz_id: str
    round: int  # 1-based
    model: str
    piece: str
    human_slot: int  # 0 = A, 1 = B
    picked_slot: int
    seed_bars: int
    excerpt_bars: int
    params: dict  # SampleParams fields of the generated excerpt
    confidence: int | None = None  # 1 guessing, 2 fairly sure, 3 sure

    def __post_init__(self) -> None:
        _check_session(self.session_id)
        if self.human_slot not in (0, 1) or self.picked_slot not in (0, 1):
            raise RecordError("An excerpt is A (0) or B (1).")
        if self.round < 1:
            raise RecordError("Rounds count from 1.")
        if self.confidence is not None and self.confidence not in (1, 2, 3):
            raise RecordError("Confidence is 1 (guessing), 2 (fairly sure) or 3 (sure).")

    @property
    def correct(self) -> bool:
        """Whether the listener picked the human-written excerpt."""
        return self.human_slot == self.picked_slot


@dataclass(frozen=True)
class Rating:
    """Stars for one Compose take, with all it takes to generate it again."""

    session_id: str
    take_id: str
    model: str
    stars: int  # 1..5
    take: int  # which variation, from 0
    params: dict  # every SampleParams field (``dataclasses.asdict``), random_seed among them
    seed_name: str
    seed_sha256: str
    seed_midi: bytes
    program: int | None = None
    comment: str | None = None
    lock: dict | None = None  # a rewrite: the bars and tracks kept of the take stored as the seed
    model_sha256: str | None = None  # the weights that made the take

    def __post_init__(self) -> None:
        _check_session(self.session_id)
        if not 1 <= self.stars <= 5:
            raise RecordError("A rating is 1 to 5 stars.")
        if self.comment is not None and len(self.comment) > MAX_COMMENT:
            raise RecordError(f"Keep the comment under {MAX_COMMENT} characters.")
        if not isinstance(self.params.get("random_seed"), int):
            raise RecordError("A rating records the settings of its take, random seed included.")


@dataclass(frozen=True)
class ModelResult:
    """How one model fares with listeners so far."""

    model: str
    answers: int  # rounds answered with this model's excerpts
    correct: int  # rounds where the listener picked the human-written excerpt
    accuracy: float | None  # correct / answers: 0.5 means listeners could not tell
    ci_low: float | None  # 95% Wilson interval of the accuracy
    ci_high: float | None
    ratings: int
    mean_rating: float | None  # mean stars of the model's rated takes

    def to_dict(self) -> dict:
        """Plain JSON-able values."""
        return asdict(self)


class ListeningDB:
    """The listening database at ``path`` (default :func:`default_path`), created or
    migrated on first use.

    Raises
    ------
    DatabaseCorrupt
        The file is damaged or is not a SQLite database.
    DatabaseUnwritable
        The file or its folder cannot be created or written.
    ListeningDBError
        The file was made by a newer musicgen, or stayed locked past ``timeout``.
    """

    def __init__(self, path: str | Path | None = None, timeout: float = 30.0) -> None:
        self.path = Path(path) if path is not None else default_path()
        self.timeout = timeout
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseUnwritable(self._unwritable(exc)) from exc
        with self._connect() as conn:
            self._check(conn)
            self.version = migrate(conn)

    # ----------------------------------------------------------------- connections
    def _unwritable(self, exc: BaseException) -> str:
        return (f"The listening database {self.path} cannot be written ({exc}). Make its folder writable, "
                "or set MUSICGEN_DATA_DIR to a folder you can write to.")

    def _error(self, exc: sqlite3.Error) -> ListeningDBError:
        text = str(exc).lower()
        if any(s in text for s in ("not a database", "malformed", "corrupt", "encrypted")):
            return DatabaseCorrupt(
                f"The listening database {self.path} is damaged ({exc}). Move it aside or delete it and a "
                "new one is made; or set MUSICGEN_DATA_DIR to another folder.")
        if any(s in text for s in ("readonly", "read-only", "unable to open", "disk i/o", "permission", "full")):
            return DatabaseUnwritable(self._unwritable(exc))
        if "locked" in text or "busy" in text:
            return ListeningDBError(f"The listening database {self.path} stayed busy for {self.timeout:g} s "
                                    f"({exc}); try again in a moment.")
        return ListeningDBError(f"The listening database {self.path} failed ({exc}).")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection of its own (sqlite3 connections are not shared between threads)."""
        conn = None
        try:
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            yield conn
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        finally:
            if conn is not None:
                conn.close()

    def _check(self, conn: sqlite3.Connection) -> None:
        """WAL mode, and a quick integrity check (raises for a damaged file)."""
        if self._wal(conn) != "wal":
            raise DatabaseUnwritable(self._unwritable("it cannot be switched to WAL mode"))
        problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise DatabaseCorrupt(f"The listening database {self.path} is damaged ({problems[0]}). Move it aside "
                                  "or delete it and a new one is made; or set MUSICGEN_DATA_DIR to another folder.")

    def _wal(self, conn: sqlite3.Connection) -> str:
        """Switch a new file to WAL mode (it stays so); returns the journal mode.

        The switch needs the file to itself, and SQLite answers "locked" at once, without
        its busy timeout, while another process opening the same new file holds a lock:
        so it is tried again, with random pauses, for up to ``timeout`` seconds.
        """
        deadline = time.monotonic() + self.timeout
        while True:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0].lower()
            if mode == "wal":
                return mode
            try:
                return conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower()
            except sqlite3.OperationalError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                    raise
                time.sleep(random.uniform(0.01, 0.05))

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short transaction that takes the write lock at once (no deadlock on upgrade)."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # ----------------------------------------------------------------- writes
    def add_answer(self, answer: Answer) -> int:
        """Store one answered round; returns its row id."""
        row = {f.name: getattr(answer, f.name) for f in fields(answer)}
        row.update(params=json.dumps(answer.params, sort_keys=True), correct=int(answer.correct),
                   created_at=_now())
        return self._insert("answers", row)

    def add_rating(self, rating: Rating) -> int:
        """Store a rating; rating the same take again in the same session replaces it."""
        row = {f.name: getattr(rating, f.name) for f in fields(rating)}
        row.update(params=json.dumps(rating.params, sort_keys=True), random_seed=rating.params["random_seed"],
                   lock=None if rating.lock is None else json.dumps(rating.lock, sort_keys=True), created_at=_now())
        update = ", ".join(f"{c} = excluded.{c}" for c in ("stars", "comment", "created_at"))
        return self._insert("ratings", row, f"ON CONFLICT (session_id, take_id) DO UPDATE SET {update}")

    def _insert(self, table: str, row: dict, conflict: str = "") -> int:
        columns = ", ".join(row)
        marks = ", ".join(f":{c}" for c in row)
        with self._write() as conn:
            conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks}) {conflict}", row)
            if not conflict:
                return int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
            # An upsert that updated leaves last_insert_rowid() alone: look the row up.
            return int(conn.execute(f"SELECT id FROM {table} WHERE session_id = ? AND take_id = ?",
                                    (row["session_id"], row["take_id"])).fetchone()[0])

    # ----------------------------------------------------------------- reads
    def rows(self, table: str) -> list[dict]:
        """Every row of ``"answers"`` or ``"ratings"``, oldest first."""
        if table not in ("answers", "ratings"):
            raise ValueError("table is 'answers' or 'ratings'")
        with self._connect() as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(f"SELECT * FROM {table} ORDER BY id")]

    def count(self, table: str) -> int:
        """How many rows ``"answers"`` or ``"ratings"`` hold."""
        if table not in ("answers", "ratings"):
            raise ValueError("table is 'answers' or 'ratings'")
        with self._connect() as conn:
            return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def results(self) -> list[ModelResult]:
        """Per model: listening-test accuracy with its 95% Wilson interval, and the mean rating."""
        from .quiz import wilson_interval

        with self._connect() as conn:
            heard = {m: (n, int(k)) for m, n, k in conn.execute(
                "SELECT model, COUNT(*), SUM(correct) FROM answers GROUP BY model")}
            rated = {m: (n, float(s)) for m, n, s in conn.execute(
                "SELECT model, COUNT(*), AVG(stars) FROM ratings GROUP BY model")}
        out = []
        for model in sorted(set(heard) | set(rated)):
            n, k = heard.get(model, (0, 0))
            low, high = wilson_interval(k, n) if n else (None, None)
            n_rated, mean = rated.get(model, (0, None))
            out.append(ModelResult(model, n, k, k / n if n else None, low, high, n_rated, mean))
        return out

    def export_csv(self, table: str = "answers") -> str:
        """All rows of a table as CSV text (a rating's seed MIDI is left out: see ``seed_sha256``)."""
        rows = self.rows(table)
        with self._connect() as conn:
            names = [r[1] for r in conn.execute(f"PRAGMA table_info({table})") if r[1] != "seed_midi"]
        out = io.StringIO()
        writer = csv.DictWriter(out, names, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring the schema up to ``target``, one migration per transaction; returns the version.

    Each transaction takes the write lock first and reads the version inside it, so
    two processes opening a new file at once migrate it once.
    """
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise ListeningDBError(
                    f"The listening database was written by a newer musicgen (schema {version}; this one knows "
                    f"{SCHEMA_VERSION}). Update musicgen, or set MUSICGEN_DATA_DIR to another folder.")
            if version >= target:
                conn.execute("COMMIT")
                return version
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
