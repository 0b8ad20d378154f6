"""The listening test: quiz logic and statistics, excerpt pairs from held-out pieces, ratings."""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import soundfile

from musicgen.listening.db import Answer, ListeningDB
from musicgen.listening.quiz import (
    ROUNDS,
    Quiz,
    QuizError,
    QuizRound,
    QuizScore,
    p_at_least,
    plan_rounds,
    wilson_interval,
)

IDS = [f"jsb/test/{i}|{i}" for i in range(30)]


# ----------------------------------------------------------------- quiz logic
def test_the_same_seed_plans_the_same_quiz_and_another_seed_another() -> None:
    assert plan_rounds(IDS, seed=3) == plan_rounds(list(reversed(IDS)), seed=3)
    quizzes = {tuple(plan_rounds(IDS, seed=s)) for s in range(20)}
    assert len(quizzes) == 20


def test_a_quiz_has_ten_rounds_over_distinct_pairs_numbered_from_one() -> None:
    rounds = plan_rounds(IDS, seed=0)
    assert len(rounds) == ROUNDS == 10
    assert [r.number for r in rounds] == list(range(1, 11))
    assert len({r.pair_id for r in rounds}) == 10 and {r.pair_id for r in rounds} <= set(IDS)


def test_the_human_excerpt_is_a_or_b_at_random_about_half_the_time() -> None:
    slots = [r.human_slot for s in range(500) for r in plan_rounds(IDS, seed=s)]
    assert set(slots) == {0, 1}
    assert 0.46 < sum(slots) / len(slots) < 0.54  # 5,000 fair coin flips: 0.5 ± 0.04 is 5.6 sigma
    orders = {tuple(r.human_slot for r in plan_rounds(IDS, seed=s)) for s in range(50)}
    assert len(orders) > 40  # the order differs from quiz to quiz


def test_too_few_pairs_for_a_quiz_is_a_clear_error() -> None:
    with pytest.raises(QuizError, match="needs 10 excerpt pairs; there are 9"):
        plan_rounds(IDS[:9], seed=0)


@pytest.mark.parametrize(("human", "picked", "right"), [(0, 0, True), (0, 1, False), (1, 1, True), (1, 0, False)],
                         ids=["A-A", "A-B", "B-B", "B-A"])
def test_an_answer_is_right_when_it_picks_the_human_excerpt(human: int, picked: int, right: bool) -> None:
    assert QuizRound(1, "p", human).is_right(picked) is right


def test_a_pick_other_than_a_or_b_is_refused() -> None:
    with pytest.raises(QuizError, match="A \\(0\\) or B"):
        QuizRound(1, "p", 0).is_right(2)


def test_a_quiz_counts_right_answers_and_ends_after_its_rounds() -> None:
    rounds = plan_rounds(IDS, seed=11)
    quiz = Quiz("q", rounds)
    picks = [r.human_slot if i < 7 else 1 - r.human_slot for i, r in enumerate(rounds)]  # 7 right, 3 wrong
    results = [quiz.answer(p, confidence=1 + i % 3) for i, p in enumerate(picks)]
    assert results == [True] * 7 + [False] * 3
    assert quiz.finished and quiz.correct == 7 and quiz.score() == QuizScore(7, 10)
    assert quiz.confidence == [1, 2, 3, 1, 2, 3, 1, 2, 3, 1]
    with pytest.raises(QuizError, match="over"):
        quiz.answer(0)


@pytest.mark.parametrize(("k", "n", "low", "high"), [
    (7, 10, 0.3968, 0.8922),  # p = .7, z = 1.95996: centre .64449, half-width .24772
    (0, 10, 0.0, 0.2775),
    (10, 10, 0.7225, 1.0),
    (50, 100, 0.4038, 0.5962),
    (1, 1, 0.2065, 1.0),
], ids=["7-of-10", "0-of-10", "10-of-10", "50-of-100", "1-of-1"])
def test_wilson_interval_matches_hand_computed_values(k: int, n: int, low: float, high: float) -> None:
    got = wilson_interval(k, n)
    assert got == pytest.approx((low, high), abs=1e-4)


def test_wilson_interval_without_answers_is_the_whole_range_and_bad_counts_are_refused() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(QuizError):
        wilson_interval(11, 10)


@pytest.mark.parametrize(("k", "expected"), [(10, 1 / 1024), (7, 176 / 1024), (5, 638 / 1024), (0, 1.0)])
def test_chance_of_scoring_at_least_k_of_10_by_guessing(k: int, expected: float) -> None:
    assert p_at_least(k, 10) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("k", "says"), [
    (9, "only 1.1% of the time: you can tell them apart"),
    (7, "in 34% of quizzes, so this is within chance"),
    (5, "within chance"),
    (1, "sounded more human to you"),
], ids=["9", "7", "5", "1"])
def test_the_score_is_compared_with_chance_in_words(k: int, says: str) -> None:
    text = QuizScore(k, 10).verdict()
    assert f"{k} times out of 10" in text and says in text


# ----------------------------------------------------------------- excerpt pairs
@pytest.fixture(scope="module")
def jsb_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A debug RNN trained on JSB chorales (its card: corpus jsb)."""
    from listeningfixtures import train_debug_jsb_rnn

    return train_debug_jsb_rnn(tmp_path_factory.mktemp("models") / "rnn-jsb-debug")


@pytest.fixture(scope="module")
def jsb_model(jsb_folder: Path):
    from musicgen.generate import load_model

    return load_model(jsb_folder, device="cpu")


def test_excerpts_come_only_from_the_benchmarks_held_out_test_split(jsb_model) -> None:
    from musicgen.benchmark import load_jsb
    from musicgen.listening.pool import corpus_of, held_out_pieces

    pieces, exhausted = held_out_pieces(corpus_of(jsb_model), 1, at_least=10)
    assert exhausted and len(pieces) == 77
    assert all(p.name.startswith("jsb/test/") for p in pieces)
    trained = {s.to_tuples().__repr__() for s in load_jsb()["train"]}
    assert not any(p.score.to_tuples().__repr__() in trained for p in pieces)


def test_a_built_in_corpus_is_read_only_as_far_as_needed_for_held_out_pieces_and_cached(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from musicgen import corpus
    from musicgen.corpus import split_of
    from musicgen.listening.pool import held_out_pieces
    from musicgen.modelcorpus import CorpusSpec

    monkeypatch.setenv("MUSICGEN_DATA_DIR", str(tmp_path))  # no corpus read by an earlier test

    spec = CorpusSpec("bach", limit=60)  # as a model trained with --limit 60 would say
    pieces, exhausted = held_out_pieces(spec, 2, at_least=2)
    first_60 = corpus._builtin_sources("bach")[:60]
    assert len(pieces) == 2 and not exhausted
    assert all(split_of(p.name) == "test" and p.name in first_60 for p in pieces)
    assert all(p.score.steps_per_beat == 2 and len(p.score.tracks) == 4 for p in pieces)  # SATB, as trained

    def no_parsing(args: tuple) -> None:
        raise AssertionError(f"{args[1]} was parsed again")

    monkeypatch.setattr(corpus, "_parse_source", no_parsing)
    again, _ = held_out_pieces(spec, 2, at_least=2)
    assert [(p.name, p.score) for p in again] == [(p.name, p.score) for p in pieces]


def test_a_pair_is_the_pieces_next_bars_and_the_models_continuation_of_the_same_seed(jsb_model) -> None:
    from musicgen.generate import generate
    from musicgen.listening.pool import ListeningSetup, corpus_of, held_out_pieces, make_pair

    piece = held_out_pieces(corpus_of(jsb_model), 1, 10)[0][5]
    setup = ListeningSetup(seed_bars=2, excerpt_bars=3)
    pair = make_pair(jsb_model, piece, setup, random_seed=42, audio=False)
    bar = piece.score.steps_per_bar  # 4 quarter-note frames
    assert pair.human.length == pair.machine.length == 3 * bar
    # The human excerpt: every note sounding in bars 2-4 of the chorale, struck at the excerpt's start if held into it.
    wanted = sorted((n.pitch, max(n.start, 2 * bar) - 2 * bar, min(n.end, 5 * bar) - 2 * bar)
                    for n in piece.score.notes if n.start < 5 * bar and n.end > 2 * bar)
    assert sorted((n.pitch, n.start, n.end) for n in pair.human.notes) == wanted
    # The machine excerpt: what the model writes after the chorale's first 2 bars, with these settings.
    take = generate(jsb_model, piece.score.crop(0, 2 * bar), pair.params)[0]
    new = [n for n in take.notes if n.track == len(take.tracks) - 1]
    assert sorted((n.pitch, n.start - 2 * bar, n.end - 2 * bar) for n in new) == sorted(
        (n.pitch, n.start, n.end) for n in pair.machine.notes)
    assert pair.params.random_seed == 42 and pair.params.bars == 3 and pair.params.n_variations == 1
    # Nothing but the notes differs: one track, one instrument, one velocity, one tempo.
    for excerpt in (pair.human, pair.machine):
        assert len(excerpt.tracks) == 1 and excerpt.tracks[0].program == piece.score.tracks[0].program
        assert {n.velocity for n in excerpt.notes} == {80}
        assert excerpt.bpm == piece.score.bpm
    again = make_pair(jsb_model, piece, setup, random_seed=42, audio=False)
    assert again.machine == pair.machine
    other = make_pair(jsb_model, piece, setup, random_seed=43, audio=False)
    assert other.machine != pair.machine and other.human == pair.human


def test_both_excerpts_play_for_exactly_as_long_in_the_kept_format(jsb_model) -> None:
    from musicgen.audio import KEPT_FORMAT
    from musicgen.listening.pool import ListeningSetup, corpus_of, held_out_pieces, make_pair

    piece = held_out_pieces(corpus_of(jsb_model), 1, 10)[0][0]
    pair = make_pair(jsb_model, piece, ListeningSetup(seed_bars=1, excerpt_bars=1), random_seed=0)
    human, rate_h = soundfile.read(io.BytesIO(pair.human_audio))
    machine, rate_m = soundfile.read(io.BytesIO(pair.machine_audio))
    assert pair.audio_format == KEPT_FORMAT
    assert rate_h == rate_m and human.shape == machine.shape
    assert abs(human).max() > 0.1 and abs(machine).max() > 0.1  # both sound


def test_pieces_too_short_or_outside_the_models_range_are_not_used(jsb_model) -> None:
    from musicgen.listening.pool import ListeningSetup, corpus_of, held_out_pieces, usable

    score = held_out_pieces(corpus_of(jsb_model), 1, 10)[0][0].score
    setup = ListeningSetup(seed_bars=2, excerpt_bars=4)
    assert usable(score, jsb_model, setup)
    assert not usable(score.crop(0, 5 * score.steps_per_bar), jsb_model, setup)  # 5 bars < 2 + 4
    high = replace(score.notes[0], pitch=jsb_model.config.lowest + jsb_model.config.n_pitches)
    assert not usable(score.with_notes([*score.notes, high], length=score.length), jsb_model, setup)
    silent_bar = [n for n in score.notes if not 3 * 4 <= n.start < 4 * 4 and not n.start < 3 * 4 < n.end]
    assert not usable(score.with_notes(silent_bar, length=score.length), jsb_model, setup)


def test_the_pool_makes_pairs_ahead_in_a_seeded_order_and_tops_up_in_the_background(jsb_model) -> None:
    from musicgen.listening.pool import ExcerptPool, ListeningSetup, corpus_of, held_out_pieces

    pieces = held_out_pieces(corpus_of(jsb_model), 1, 10)[0]
    setup = ListeningSetup(seed_bars=1, excerpt_bars=1)
    pool = ExcerptPool(jsb_model, pieces, setup, seed=5, audio=False)
    assert len(pool) == 0 and pool.capacity == 77
    assert pool.fill(4) == 4
    assert len({pool.pair(i).piece for i in pool.pair_ids()}) == 4  # one pair per piece
    twin = ExcerptPool(jsb_model, pieces, setup, seed=5, audio=False)
    twin.fill(4)
    assert sorted(twin.pair_ids()) == sorted(pool.pair_ids())
    pool.top_up_async(3)
    pool.wait(120)
    assert len(pool) == 7


def test_pools_are_made_ahead_in_the_background_once_per_model(jsb_model) -> None:
    from musicgen.listening.pool import PoolWarmup

    warmup = PoolWarmup(rounds=2)
    job = warmup.start(("jsb", 1.0), jsb_model)
    assert warmup.start(("jsb", 1.0), jsb_model) is job  # every listener shares it
    pool = job.result(timeout=300)
    assert len(pool) >= 2 and all(pool.pair(i).human_audio for i in pool.pair_ids())
    assert warmup.start(("jsb", 2.0), jsb_model) is not job  # retrained weights: a new pool
    warmup.start(("jsb", 2.0), jsb_model).result(timeout=300)


def test_a_pool_that_runs_out_of_pieces_reads_more_of_the_corpus_in_the_background(jsb_model) -> None:
    from musicgen.listening.pool import ExcerptPool, ListeningSetup, corpus_of, held_out_pieces

    pieces = held_out_pieces(corpus_of(jsb_model), 1, 10)[0]
    asked = []

    def finder(n: int) -> list:  # as if reading more source files: the first n held-out pieces
        asked.append(n)
        return pieces[:n]

    pool = ExcerptPool(jsb_model, pieces[:5], ListeningSetup(seed_bars=1, excerpt_bars=1), audio=False,
                       finder=finder)
    assert pool.fill(10) == 5 and pool.capacity == 5  # all it has, without asking for more in the foreground
    pool.top_up_async(4)
    pool.wait(120)
    assert asked == [18] and pool.capacity == 18 and len(pool) == 9
    assert len({pool.pair(i).piece for i in pool.pair_ids()}) == 9


def test_a_quiz_over_the_pool_stores_answers_whose_results_match_the_score(jsb_model) -> None:
    from musicgen.listening.pool import ListeningSetup, pool_for

    pool = pool_for(jsb_model, ListeningSetup(seed_bars=1, excerpt_bars=1), audio=False)
    pool.fill(ROUNDS)
    quiz = Quiz(uuid.uuid4().hex, plan_rounds(pool.pair_ids(), seed=9))
    db, listener = ListeningDB(), uuid.uuid4().hex
    for i, rnd in enumerate(quiz.rounds):
        pick = rnd.human_slot if i % 3 else 1 - rnd.human_slot  # wrong in rounds 1, 4, 7, 10
        pair = pool.pair(rnd.pair_id)
        quiz.answer(pick)
        db.add_answer(Answer(listener, quiz.quiz_id, rnd.number, jsb_model.name, pair.piece, rnd.human_slot, pick,
                             pair.setup.seed_bars, pair.setup.excerpt_bars, asdict(pair.params)))
    assert quiz.correct == 6
    [result] = [r for r in db.results() if r.model == jsb_model.name]
    assert (result.answers, result.correct, result.accuracy) == (10, 6, 0.6)
    assert (result.ci_low, result.ci_high) == pytest.approx(wilson_interval(6, 10))


def test_a_model_of_the_users_own_files_that_are_gone_has_no_listening_test(debug_rnn) -> None:
    from musicgen.listening.pool import ListeningUnavailable, pool_for

    with pytest.raises(ListeningUnavailable, match="held-out pieces"):
        pool_for(debug_rnn)  # its card says corpus "tiny"


# ----------------------------------------------------------------- ratings
def test_a_rated_take_can_be_regenerated_from_the_database(jsb_model, jsb_folder: Path, tmp_path: Path) -> None:
    from musicgen.benchmark import load_jsb
    from musicgen.generate import generate
    from musicgen.listening.ratings import make_rating, regenerate
    from musicgen.midi import load_midi, score_to_bytes
    from musicgen.sampling import SampleParams

    seed = load_midi(score_to_bytes(load_jsb()["test"][0].crop(0, 8)))  # as Compose reads a seed file
    params = SampleParams(bars=2, n_variations=3, random_seed=77, temperature=0.9, top_p=0.9)
    takes = generate(jsb_model, seed, params)
    db = ListeningDB(tmp_path / "l.sqlite3")
    db.add_rating(make_rating(uuid.uuid4().hex, "gen-1/1", str(jsb_folder), 4, 1, params, "chorale.mid", seed,
                              comment="  nice cadence "))
    [row] = db.rows("ratings")
    assert (row["stars"], row["comment"], row["random_seed"], row["take"]) == (4, "nice cadence", 77, 1)
    stored = load_midi(bytes(row["seed_midi"]))
    assert all(t.name.startswith("Track ") for t in stored.tracks)  # no names kept, the notes are
    assert stored.notes == seed.notes
    again = regenerate(row, device="cpu")
    assert again.notes == takes[1].notes and again.notes != takes[0].notes


def test_a_rated_rewrite_is_made_again_with_the_bars_it_kept(jsb_model, jsb_folder: Path, tmp_path: Path) -> None:
    from musicgen.benchmark import load_jsb
    from musicgen.generate import generate
    from musicgen.listening.ratings import UPLOADED, ModelChanged, make_rating, regenerate, weights_sha256
    from musicgen.lock import Lock
    from musicgen.midi import load_midi, score_to_bytes
    from musicgen.sampling import SampleParams

    seed = load_midi(score_to_bytes(load_jsb()["test"][1].crop(0, 8)))
    params = SampleParams(bars=2, n_variations=2, random_seed=5)
    take = generate(jsb_model, seed, params)[0]
    lock = Lock(bars=(1, 3))
    rewrites = generate(jsb_model, take, params, lock=lock)
    db = ListeningDB(tmp_path / "l.sqlite3")
    sha = weights_sha256(str(jsb_folder))
    db.add_rating(make_rating(uuid.uuid4().hex, "gen-2/1", str(jsb_folder), 5, 1, params, "Maria Smith's tune.mid",
                              take, lock=lock, model_sha256=sha))
    [row] = db.rows("ratings")
    assert row["seed_name"] == UPLOADED  # a file name may hold a person's name
    assert json.loads(row["lock"]) == {"bars": [1, 3], "tracks": []} and row["model_sha256"] == sha
    assert regenerate(row, device="cpu").notes == rewrites[1].notes
    with pytest.raises(ModelChanged, match="retrained"):
        regenerate({**row, "model_sha256": "0" * 64}, device="cpu")


# ----------------------------------------------------------------- the report
def test_listening_report_prints_accuracy_interval_and_ratings_and_writes_json_and_csv(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import csv
    import json

    from musicgen.__main__ import main
    from musicgen.listening.db import Rating

    monkeypatch.setenv("MUSICGEN_DATA_DIR", str(tmp_path / "data"))  # a database of this test's answers only
    db = ListeningDB()
    listener = uuid.uuid4().hex
    for i in range(10):  # rnn-folk: 7 of 10 rounds found the human excerpt
        db.add_answer(Answer(listener, "q", i + 1, "rnn-folk", "p", 0, 0 if i < 7 else 1, 2, 4, {"random_seed": i}))
    db.add_rating(Rating(listener, "g/0", "rnn-folk", 4, 0, {"random_seed": 1}, "s.mid", "0" * 64, b"MThd"))
    code = main(["listening-report", "--json", str(tmp_path / "r.json"), "--csv", str(tmp_path / "a.csv"),
                 "--ratings-csv", str(tmp_path / "r.csv")])
    out = capsys.readouterr().out
    assert code == 0
    [line] = [x for x in out.splitlines() if x.startswith("rnn-folk")]
    assert line.split() == ["rnn-folk", "10", "70%", "40%–89%", "1", "4.00"]
    assert "50% means they could not tell" in out
    [figures] = json.loads((tmp_path / "r.json").read_text())
    assert (figures["answers"], figures["correct"], figures["accuracy"], figures["mean_rating"]) == (10, 7, 0.7, 4.0)
    assert figures["ci_low"] == pytest.approx(0.3968, abs=1e-4)
    answers = list(csv.DictReader((tmp_path / "a.csv").open()))
    assert len(answers) == 10 and sum(int(r["correct"]) for r in answers) == 7
    [rated] = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert (rated["stars"], rated["model"]) == ("4", "rnn-folk")


def test_listening_report_on_a_damaged_database_is_one_error_line(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from musicgen.__main__ import main

    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"\x00garbage" * 500)
    assert main(["listening-report", "--db", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: The listening database") and "damaged" in err and err.count("\n") == 1
