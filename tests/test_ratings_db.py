"""The listening database: schema, migrations, concurrent writers, damaged files."""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
import sqlite3
import subprocess
import threading
import uuid
from dataclasses import asdict, fields
from pathlib import Path

import pytest

from musicgen.listening.db import (
    MIGRATIONS,
    SCHEMA_VERSION,
    Answer,
    DatabaseCorrupt,
    DatabaseUnwritable,
    ListeningDB,
    ListeningDBError,
    Rating,
    RecordError,
    default_path,
    migrate,
)

PARAMS = {"bars": 4, "temperature": 1.0, "top_p": 0.95, "noise": 0.5, "n_variations": 1, "random_seed": 7,
          "key_lock": None, "max_polyphony": None}


def answer(session: str, round_: int = 1, human: int = 0, picked: int = 0, model: str = "rnn-jsb",
           confidence: int | None = None) -> Answer:
    return Answer(session, "quiz-1", round_, model, "jsb/test/3", human, picked, 2, 4, PARAMS, confidence)


def rating(session: str, take_id: str = "gen-1/0", stars: int = 4, model: str = "rnn-jsb",
           comment: str | None = None) -> Rating:
    return Rating(session, take_id, model, stars, 0, PARAMS, "bwv66.6.mid", "ab" * 32, b"MThd", None, comment)


def columns(db: ListeningDB, table: str) -> list[str]:
    with sqlite3.connect(db.path) as conn:
        return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


# ----------------------------------------------------------------- schema
def test_a_new_database_is_made_in_the_data_folder_at_the_latest_schema_in_wal_mode() -> None:
    db = ListeningDB()
    assert db.path == default_path() == Path(os.environ["MUSICGEN_DATA_DIR"]) / "listening.sqlite3"
    with sqlite3.connect(db.path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"answers", "ratings"} <= tables


def test_a_rating_keeps_every_sample_setting_so_the_take_can_be_regenerated(tmp_path: Path) -> None:
    from musicgen.sampling import SampleParams  # (not at the top: worker processes import this file, without torch)

    db = ListeningDB(tmp_path / "l.sqlite3")
    odd = {f.name: getattr(SampleParams(), f.name) for f in fields(SampleParams)}
    odd.update(bars=3, temperature=0.7, top_p=0.8, noise=1.5, n_variations=6, random_seed=12345,
               key_lock="D minor", max_polyphony=3)
    wanted = SampleParams(**odd)
    db.add_rating(Rating(uuid.uuid4().hex, "g/2", "rnn-folk", 3, 2, asdict(wanted), "reel.mid", "0" * 64, b"MThd"))
    [row] = db.rows("ratings")
    assert SampleParams(**json.loads(row["params"])) == wanted
    assert (row["random_seed"], row["take"], row["model"]) == (12345, 2, "rnn-folk")


def test_migrating_a_version_1_file_keeps_its_answers_and_adds_ratings(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path, isolation_level=None) as conn:
        assert migrate(conn, target=1) == 1  # only the first migration
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        conn.execute("INSERT INTO answers (created_at, session_id, quiz_id, round, model, piece, human_slot, "
                     "picked_slot, correct, confidence, seed_bars, excerpt_bars, params) VALUES "
                     "('2026-01-01T00:00:00+00:00', 's', 'q', 1, 'rnn-folk', 'p', 1, 1, 1, NULL, 2, 4, '{}')")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "ratings" not in tables
    db = ListeningDB(path)
    assert db.version == SCHEMA_VERSION
    [old] = db.rows("answers")
    assert (old["model"], old["correct"]) == ("rnn-folk", 1)
    db.add_rating(rating(uuid.uuid4().hex))
    assert db.count("ratings") == 1
    assert ListeningDB(path).version == SCHEMA_VERSION  # opening again changes nothing


def test_migrating_a_version_2_file_keeps_its_ratings_and_adds_lock_and_weights(tmp_path: Path) -> None:
    path = tmp_path / "v2.sqlite3"
    with sqlite3.connect(path, isolation_level=None) as conn:
        assert migrate(conn, target=2) == 2
        conn.execute("INSERT INTO ratings (created_at, session_id, take_id, model, stars, take, random_seed, params, "
                     "seed_name, seed_sha256, seed_midi) VALUES ('2026-01-01T00:00:00+00:00', ?, 'g/0', 'rnn-jsb', "
                     "4, 0, 3, '{}', 'x.mid', ?, x'00')", (uuid.uuid4().hex, "0" * 64))
    db = ListeningDB(path)
    assert db.version == SCHEMA_VERSION == 3
    [old] = db.rows("ratings")
    assert (old["stars"], old["lock"], old["model_sha256"]) == (4, None, None)


def test_a_file_from_a_newer_musicgen_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ListeningDBError, match="newer musicgen"):
        ListeningDB(path)


# ----------------------------------------------------------------- writes and reads
def test_answers_are_stored_with_whether_the_listener_found_the_human(tmp_path: Path) -> None:
    db = ListeningDB(tmp_path / "l.sqlite3")
    session = uuid.uuid4().hex
    db.add_answer(answer(session, 1, human=0, picked=0, confidence=3))
    db.add_answer(answer(session, 2, human=1, picked=0))
    rows = db.rows("answers")
    assert [(r["round"], r["correct"], r["confidence"]) for r in rows] == [(1, 1, 3), (2, 0, None)]
    assert rows[0]["session_id"] == session


def test_the_schema_refuses_an_answer_whose_verdict_contradicts_its_slots(tmp_path: Path) -> None:
    db = ListeningDB(tmp_path / "l.sqlite3")
    with sqlite3.connect(db.path) as conn, pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO answers (created_at, session_id, quiz_id, round, model, piece, human_slot, "
                     "picked_slot, correct, seed_bars, excerpt_bars, params) VALUES "
                     "('t', 's', 'q', 1, 'm', 'p', 0, 1, 1, 2, 4, '{}')")


@pytest.mark.parametrize(("make", "message"), [
    (lambda: answer("Jane Doe"), "anonymous"),
    (lambda: answer(uuid.uuid4().hex, picked=2), "A \\(0\\) or B"),
    (lambda: answer(uuid.uuid4().hex, confidence=5), "Confidence"),
    (lambda: rating(uuid.uuid4().hex, stars=6), "1 to 5 stars"),
    (lambda: rating(uuid.uuid4().hex, comment="x" * 5000), "comment"),
], ids=["a-name-as-session", "slot-c", "confidence-5", "six-stars", "long-comment"])
def test_bad_records_are_refused_with_a_clear_message(make, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        make()


def test_rating_a_take_again_replaces_the_rating(tmp_path: Path) -> None:
    db = ListeningDB(tmp_path / "l.sqlite3")
    session = uuid.uuid4().hex
    first = db.add_rating(rating(session, stars=2))
    again = db.add_rating(rating(session, stars=5, comment="better on a second listen"))
    db.add_rating(rating(uuid.uuid4().hex, stars=1))  # another listener, same take
    rows = db.rows("ratings")
    assert first == again and len(rows) == 2
    assert (rows[0]["stars"], rows[0]["comment"]) == (5, "better on a second listen")
    assert rows[0]["random_seed"] == 7 and json.loads(rows[0]["params"])["top_p"] == 0.95


def test_results_give_accuracy_with_a_wilson_interval_and_the_mean_rating(tmp_path: Path) -> None:
    db = ListeningDB(tmp_path / "l.sqlite3")
    session = uuid.uuid4().hex
    for i in range(10):  # 7 of 10 right for rnn-jsb
        db.add_answer(answer(session, i + 1, human=i % 2, picked=i % 2 if i < 7 else 1 - i % 2))
    db.add_answer(answer(session, 1, human=0, picked=1, model="rnn-folk"))
    for stars in (5, 4, 2):
        db.add_rating(rating(uuid.uuid4().hex, stars=stars))
    by_model = {r.model: r for r in db.results()}
    jsb = by_model["rnn-jsb"]
    assert (jsb.answers, jsb.correct, jsb.accuracy) == (10, 7, 0.7)
    assert jsb.ci_low == pytest.approx(0.3968, abs=1e-4) and jsb.ci_high == pytest.approx(0.8922, abs=1e-4)
    assert (jsb.ratings, jsb.mean_rating) == (3, pytest.approx(11 / 3))
    folk = by_model["rnn-folk"]
    assert (folk.answers, folk.accuracy, folk.ratings, folk.mean_rating) == (1, 0.0, 0, None)
    assert folk.ci_low == 0.0 and folk.ci_high == pytest.approx(0.7935, abs=1e-4)


def test_csv_export_holds_every_answer_and_no_seed_bytes(tmp_path: Path) -> None:
    db = ListeningDB(tmp_path / "l.sqlite3")
    sessions = [uuid.uuid4().hex for _ in range(3)]
    for s in sessions:
        db.add_answer(answer(s))
    db.add_rating(rating(sessions[0], comment='says "lovely", then, a comma'))
    rows = list(csv.DictReader(io.StringIO(db.export_csv("answers"))))
    assert [r["session_id"] for r in rows] == sessions
    assert rows[0]["correct"] == "1" and rows[0]["model"] == "rnn-jsb"
    [rated] = list(csv.DictReader(io.StringIO(db.export_csv("ratings"))))
    assert "seed_midi" not in rated and rated["comment"] == 'says "lovely", then, a comma'
    assert rated["seed_sha256"] == "ab" * 32


# ----------------------------------------------------------------- many writers
def _write_answers(path: str, writer: int, n: int, start: object) -> None:
    """Runs in threads and in other processes: ``n`` answers (and some ratings) for one listener,
    after every writer has reached ``start`` (a barrier), so that they all write at once."""
    start.wait(120)
    db = ListeningDB(path)
    session = str(uuid.UUID(int=writer + 1))
    for i in range(n):
        db.add_answer(answer(session, i + 1, human=i % 2, picked=writer % 2))
        if i % 5 == 0:
            db.add_rating(rating(session, take_id=f"t{i}", stars=1 + i % 5))


def test_threads_and_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "busy.sqlite3")  # created by the writers themselves, all at once
    n, n_threads, n_processes = 12, 5, 3
    writers = n_threads + n_processes
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(writers)
    processes = [context.Process(target=_write_answers, args=(path, w, n, start)) for w in range(n_processes)]
    threads = [threading.Thread(target=_write_answers, args=(path, n_processes + w, n, start))
               for w in range(n_threads)]
    for worker in [*processes, *threads]:
        worker.start()
    for worker in [*processes, *threads]:
        worker.join(180)
    assert [p.exitcode for p in processes] == [0] * n_processes
    db = ListeningDB(path)
    rows = db.rows("answers")
    assert len(rows) == writers * n
    assert {(r["session_id"], r["round"]) for r in rows} == {
        (str(uuid.UUID(int=w + 1)), i + 1) for w in range(writers) for i in range(n)}
    assert db.count("ratings") == writers * len(range(0, n, 5))
    assert db.version == SCHEMA_VERSION


# ----------------------------------------------------------------- broken files
def test_a_file_that_is_not_a_database_gives_a_clear_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "listening.sqlite3"
    path.write_bytes(b"these are not the answers you are looking for\n" * 200)
    with pytest.raises(DatabaseCorrupt, match=r"is damaged .* delete it"):
        ListeningDB(path)


def test_a_damaged_page_is_found_when_the_database_is_opened(tmp_path: Path) -> None:
    path = tmp_path / "listening.sqlite3"
    ListeningDB(path)
    with sqlite3.connect(path) as conn:  # a few pages of answers, in one transaction
        conn.executemany("INSERT INTO answers (created_at, session_id, quiz_id, round, model, piece, human_slot, "
                         "picked_slot, correct, seed_bars, excerpt_bars, params) VALUES "
                         "('t', ?, 'q', ?, 'rnn-jsb', 'jsb/test/3', 0, 0, 1, 2, 4, '{}')",
                         [(uuid.uuid4().hex, i + 1) for i in range(300)])
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything into the main file
        page = conn.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(path.read_bytes())
    data[2 * page: 2 * page + 2000] = b"\xab" * 2000  # scribble over the third page
    path.write_bytes(bytes(data))
    with pytest.raises(DatabaseCorrupt, match="malformed"):
        ListeningDB(path)


def test_a_folder_that_cannot_be_made_gives_a_clear_typed_error(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    monkeypatch.setenv("MUSICGEN_DATA_DIR", str(blocker))
    with pytest.raises(DatabaseUnwritable, match="MUSICGEN_DATA_DIR"):
        ListeningDB()


def test_a_read_only_database_gives_a_clear_typed_error_on_write(tmp_path: Path) -> None:
    path = tmp_path / "listening.sqlite3"
    ListeningDB(path)
    path.chmod(0o444)
    immutable = hasattr(os, "geteuid") and os.geteuid() == 0  # root writes read-only files: lock it harder
    if immutable and subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("running as root without chattr: no file is read-only to root")
    try:
        db = ListeningDB(path)  # reading still works
        assert db.count("answers") == 0
        with pytest.raises(DatabaseUnwritable, match=r"cannot be written .*MUSICGEN_DATA_DIR"):
            db.add_answer(answer(uuid.uuid4().hex))
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(0o644)
