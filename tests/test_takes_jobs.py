"""Kept takes (join, reorder, zip) and training as a request / background job."""

from __future__ import annotations

import io
import shutil
import zipfile

import pytest

from musicgen.jobs import TrainingJob, TrainingRequestError, TrainRequest
from musicgen.midi import load_midi, score_to_bytes
from musicgen.score import Score, Track
from musicgen.takes import Take, TakesError, file_stem, join_takes, move, takes_zip


def melody(pitches: list[int], steps: int = 4) -> Score:
    """One note per beat on a 4/4 grid of 4 steps per beat."""
    return Score.from_tuples([(p, 90, steps * i, steps * (i + 1)) for i, p in enumerate(pitches)],
                             tracks=(Track("Flute", 73),))


@pytest.mark.parametrize(("index", "offset", "expected"), [
    (0, 1, "bac"), (2, -1, "acb"), (0, -1, "abc"), (2, 5, "abc"), (1, -9, "bac"), (7, 1, "abc"),
], ids=["down", "up", "top-stays", "bottom-stays", "clamped", "out-of-range"])
def test_move(index: int, offset: int, expected: str) -> None:
    assert "".join(move(list("abc"), index, offset)) == expected


def test_join_starts_each_take_on_a_new_bar() -> None:
    a, b = melody([60, 62, 64]), melody([67, 65])  # 3 beats, then 2: the second starts at bar 2
    joined = join_takes([a, b])
    assert [(n.pitch, n.start) for n in joined.notes] == [(60, 0), (62, 4), (64, 8), (67, 16), (65, 20)]
    assert len(joined.tracks) == 1
    assert join_takes([a, b], bpm=90).bpm == 90


def test_join_nothing_is_a_clear_error() -> None:
    with pytest.raises(TakesError, match="at least one"):
        join_takes([])


def test_zip_holds_every_take_in_order_and_the_joined_piece() -> None:
    takes = [Take("Take 1", melody([60, 62])), Take("Take 1", melody([64])), Take("chorale/../x y", melody([67]))]
    archive = zipfile.ZipFile(io.BytesIO(takes_zip(takes, audio=lambda s: b"RIFF" + bytes(len(s.notes)))))
    names = archive.namelist()
    assert names == ["01-Take-1.mid", "01-Take-1.wav", "02-Take-1.mid", "02-Take-1.wav", "03-chorale-..-x-y.mid",
                     "03-chorale-..-x-y.wav", "all-takes-joined.mid"]
    assert load_midi(archive.read("02-Take-1.mid")).notes == takes[1].score.notes
    assert archive.read("01-Take-1.wav") == b"RIFF" + bytes(2)
    assert [n.pitch for n in load_midi(archive.read("all-takes-joined.mid")).notes] == [60, 62, 64, 67]
    with pytest.raises(TakesError, match="keep some"):
        takes_zip([])


def test_file_stem_is_safe() -> None:
    assert file_stem("a/b\\c:d") == "a-b-c-d"
    assert file_stem("///") == "take"


@pytest.mark.parametrize("request_kwargs", [
    {"steps": 0}, {"batch_size": 0}, {"lr": 0.0}, {"name": "../escape"}, {"name": "x" * 65},
], ids=["steps", "batch", "lr", "path-name", "long-name"])
def test_bad_training_requests_are_refused(request_kwargs: dict) -> None:
    with pytest.raises(TrainingRequestError):
        TrainRequest(family="rnn", corpus="jsb", **request_kwargs).check()


def test_training_job_runs_reports_progress_and_saves(tmp_path) -> None:
    request = TrainRequest(family="rnn", corpus="jsb", size="debug", steps=12, batch_size=4, eval_every=6,
                           out=tmp_path / "m", name="job-test")
    snapshot = TrainingJob(request).start().wait(timeout=300)
    assert snapshot.phase == "finished" and snapshot.step == 12 and snapshot.total == 12
    assert [h["step"] for h in snapshot.history] == [6, 12]
    assert (tmp_path / "m" / "model.safetensors").is_file()
    assert not snapshot.running and snapshot.error is None


def test_a_trained_models_card_names_its_corpus_so_it_can_be_read_again(tmp_path) -> None:
    import json

    from musicgen.modelcorpus import CorpusSpec, corpus_spec

    (tmp_path / "tunes").mkdir()
    for k, pitches in enumerate(([60, 62, 64, 65], [67, 65, 64, 62], [72, 71, 69, 67], [64, 65, 67, 69])):
        score = Score.from_tuples([(p, 90, 4 * i, 4 * i + 4) for i, p in enumerate(pitches * 4)])
        (tmp_path / "tunes" / f"tune-{k}.mid").write_bytes(score_to_bytes(score))
    for corpus, out, expected in ((str(tmp_path / "tunes"), "mine", CorpusSpec(str((tmp_path / "tunes").resolve()))),
                                  ("jsb", "jsb-card", CorpusSpec("jsb"))):
        request = TrainRequest(family="rnn", corpus=corpus, size="debug", steps=2, batch_size=2, eval_every=2,
                               out=tmp_path / out, name=out)
        assert TrainingJob(request).start().wait(timeout=300).phase == "finished"
        card = json.loads((tmp_path / out / "card.json").read_text())
        assert corpus_spec(card) == expected


def test_training_job_cancel_stops_and_keeps_state_to_resume(tmp_path) -> None:
    request = TrainRequest(family="rnn", corpus="jsb", size="debug", steps=10_000, batch_size=4, eval_every=5,
                           out=tmp_path / "m", name="job-cancel")
    job = TrainingJob(request)
    job.cancel()  # asked to stop before it starts: it stops at once, having saved its state
    snapshot = job.start().wait(timeout=300)
    assert snapshot.phase == "cancelled" and snapshot.step == 0
    assert (tmp_path / "m" / "train_state.pt").is_file()


def test_training_job_failure_is_a_message_not_a_crash(tmp_path) -> None:
    request = TrainRequest(family="rnn", corpus=str(tmp_path / "nothing-here"), size="debug", steps=5,
                           out=tmp_path / "m")
    snapshot = TrainingJob(request).start().wait(timeout=60)
    assert snapshot.phase == "failed" and "neither a folder nor a zip" in snapshot.error


def test_a_model_name_is_claimed_by_one_user_and_held_while_it_trains(tmp_path) -> None:
    from musicgen.jobs import claim_model_name
    from musicgen.paths import user_models_dir

    with pytest.raises(TrainingRequestError, match="ships with"):
        claim_model_name("gan-folk")
    (user_models_dir() / "claimed").mkdir(parents=True)
    (user_models_dir() / "claimed" / "config.json").write_text("{}")
    with pytest.raises(TrainingRequestError, match="someone's model"):
        claim_model_name("claimed")
    claim_model_name("claimed", owned={"claimed"})  # its maker may go on with it
    shutil.rmtree(user_models_dir() / "claimed")
    job = TrainingJob(TrainRequest(family="rnn", corpus="jsb", size="debug", steps=10_000, batch_size=4,
                                   out=tmp_path / "m", name="busy-name"))
    job.start()
    with pytest.raises(TrainingRequestError, match="being trained right now"):
        claim_model_name("busy-name", owned={"busy-name"})
    job.cancel()
    job.wait(timeout=300)
    claim_model_name("busy-name")  # free again once the run has ended


def test_uploaded_training_files_are_kept_as_one_zip_named_after_the_model() -> None:
    from musicgen.jobs import save_corpus_files

    path = save_corpus_files("my-reels", [("a.mid", b"MThd-a"), ("more.zip", b"PK-b")])
    assert path.name == "my-reels.zip" and path.parent.name == "corpora"
    with zipfile.ZipFile(path) as archive:
        assert {n: archive.read(n) for n in archive.namelist()} == {"a.mid": b"MThd-a", "more.zip": b"PK-b"}
    with pytest.raises(TrainingRequestError, match="cannot name a model"):
        save_corpus_files("../outside", [("a.mid", b"x")])
