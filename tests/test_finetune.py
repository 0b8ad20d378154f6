"""Fine-tuning: a trained model goes on learning from other music, keeping its kind, size and grid,
and the model saved is never worse on that music's validation pieces than the one it started from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from enginefixtures import tiny_corpus, train_debug_rnn
from torch.utils.data import DataLoader

from musicgen.checkpoint import load_model_files
from musicgen.corpus import Corpus, Piece
from musicgen.generate import load_model
from musicgen.jobs import TrainingRequestError, TrainRequest, _fine_tuning
from musicgen.models.registry import get_family
from musicgen.score import Score
from musicgen.train import TrainConfig, evaluate, train


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("base") / "rnn-base"
    train_debug_rnn(folder, steps=40)
    return folder


def _arpeggios() -> Corpus:
    """New music for the base: broken triads in eighth notes, up and down, in twelve keys."""
    pieces = []
    for root in range(55, 67):
        up = [root, root + 4, root + 7, root + 12]
        line = (up + up[::-1]) * 4
        pieces.append(Piece(f"arpeggio-{root}", Score.from_tuples([(p, 80, 2 * i, 2 * i + 2)
                                                                    for i, p in enumerate(line)])))
    return Corpus("arpeggios", pieces)


def _fine_tune(base: Path, out: Path, corpus: Corpus, **cfg) -> tuple[object, dict]:
    family = get_family("rnn")
    request = TrainRequest(family="rnn", corpus="arpeggios", init_from=str(base), device="cpu")
    config, start = _fine_tuning(family, request)
    settings = {"steps": 30, "batch_size": 8, "eval_every": 10, "warmup": 5, "lr": 1e-2, **cfg}
    result = train(family, config, corpus.split("train"), corpus.split("valid"), out, TrainConfig(**settings),
                   device="cpu", card={"fine_tuned_from": start.name}, initial=start.weights)
    return result, json.loads((out / "card.json").read_text())


def _validation_loss(folder: Path, corpus: Corpus) -> float:
    model = load_model(folder, device="cpu")
    data = model.family.dataset(corpus.split("valid"), model.config, train=False)
    loader = DataLoader(data, batch_size=8, collate_fn=model.family.collate)
    return evaluate(model.family, model.network, loader, torch.device("cpu"))


def test_a_fine_tuned_model_keeps_its_size_and_grid_and_learns_the_new_music(base: Path, tmp_path: Path) -> None:
    corpus = _arpeggios()
    before = _validation_loss(base, corpus)
    result, card = _fine_tune(base, tmp_path / "tuned", corpus)
    assert result.status == "finished"
    assert card["fine_tuned_from"] == "rnn-base"
    assert card["validation_loss_before"] == pytest.approx(before, abs=1e-4)
    after = _validation_loss(tmp_path / "tuned", corpus)
    assert after == pytest.approx(card["validation_loss"], abs=1e-4)
    assert after < 0.8 * before  # it learned the arpeggios
    tuned, original = load_model(tmp_path / "tuned", device="cpu"), load_model(base, device="cpu")
    assert tuned.config == original.config  # the debug size, 4 steps a beat: not the request's "small"
    assert tuned.config.steps_per_beat == 4


def test_fine_tuning_that_only_makes_things_worse_keeps_the_model_it_started_from(base: Path,
                                                                                  tmp_path: Path) -> None:
    """A learning rate far too high wrecks the weights; what is saved is the start, bit for bit."""
    corpus = tiny_corpus()
    result, card = _fine_tune(base, tmp_path / "wrecked", corpus, lr=5.0, warmup=1)
    assert not any(h["val_loss"] <= card["validation_loss_before"] for h in result.history)  # (nan is worse too)
    assert card["validation_loss"] == card["validation_loss_before"] and card["steps"] == 0
    _, _, kept, _ = load_model_files(tmp_path / "wrecked")
    _, _, start, _ = load_model_files(base)
    assert kept.keys() == start.keys() and all(torch.equal(kept[k], start[k]) for k in start)


def test_a_resumed_fine_tuning_run_remembers_where_it_started(base: Path, tmp_path: Path) -> None:
    corpus = _arpeggios()
    calls = iter(range(1000))
    family = get_family("rnn")
    config, start = _fine_tuning(family, TrainRequest(family="rnn", corpus="x", init_from=str(base)))
    settings = TrainConfig(steps=30, batch_size=8, eval_every=10, checkpoint_every=10, warmup=5, lr=1e-2)
    stopped = train(family, config, corpus.split("train"), corpus.split("valid"), tmp_path / "run", settings,
                    device="cpu", initial=start.weights, should_stop=lambda: next(calls) >= 12)
    assert stopped.status == "cancelled"
    before = json.loads((tmp_path / "run" / "card.json").read_text())["validation_loss_before"]
    resumed = train(family, config, corpus.split("train"), corpus.split("valid"), tmp_path / "run", settings,
                    device="cpu", initial=start.weights)
    assert resumed.status == "finished" and resumed.steps == 30
    card = json.loads((tmp_path / "run" / "card.json").read_text())
    assert card["validation_loss_before"] == before and card["validation_loss"] < before


def test_fine_tuning_refuses_a_model_of_another_kind_a_missing_one_and_distilling_at_once(
        base: Path, debug_gan, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    rnn = get_family("rnn")
    gan_folder = next(tmp_path_factory.getbasetemp().glob("models*/gan-choir"))  # the debug_gan fixture's
    for source, message in ((gan_folder, "is a GAN: fine-tune it as one"), (tmp_path / "nothing", "cannot be loaded")):
        with pytest.raises(TrainingRequestError, match=message):
            _fine_tuning(rnn, TrainRequest(family="rnn", corpus="tiny", init_from=str(source)))
    with pytest.raises(TrainingRequestError, match="a name of its own"):
        _fine_tuning(rnn, TrainRequest(family="rnn", corpus="tiny", init_from=str(base), out=base))
    with pytest.raises(TrainingRequestError, match="not both"):
        TrainRequest(family="rnn", corpus="tiny", init_from=str(base), distill_from=str(base)).check()
    request = TrainRequest(family="gan", corpus="tiny", init_from=str(gan_folder))
    config, start = _fine_tuning(get_family("gan"), request)
    assert start.name == "gan-choir" and config.n_pitches == 48  # a GAN fine-tunes as a GAN
