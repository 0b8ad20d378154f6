"""Knowledge distillation: a smaller RNN that learns a trained RNN's predictions as well as the music."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from enginefixtures import tiny_corpus, train_debug_rnn
from torch.utils.data import DataLoader

from musicgen.generate import load_model
from musicgen.jobs import TrainingRequestError, TrainRequest, _distilling
from musicgen.models.distill import DistillingRnnFamily
from musicgen.models.registry import get_family
from musicgen.train import TrainConfig, train


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("teacher") / "rnn-teacher"
    train_debug_rnn(folder, steps=40)
    return folder, load_model(folder, device="cpu")


def _batch(model) -> tuple[torch.Tensor, ...]:
    dataset = model.family.dataset(tiny_corpus().split("train"), model.config, train=False)
    return next(iter(DataLoader(dataset, batch_size=4, collate_fn=model.family.collate)))


def test_a_student_that_predicts_as_its_teacher_does_pays_only_the_music_loss(teacher) -> None:
    _, model = teacher
    family = DistillingRnnFamily(model.network)
    twin = copy.deepcopy(model.network).train()  # a debug RNN has no dropout: the same predictions
    batch = _batch(model)
    loss, parts = family.loss(twin, batch, torch.device("cpu"))
    assert parts["kl"] == pytest.approx(0.0, abs=1e-5)
    assert float(loss) == pytest.approx(0.5 * parts["nll"], rel=1e-5)
    plain, _ = model.family.loss(twin, batch, torch.device("cpu"))
    assert parts["nll"] == pytest.approx(float(plain), rel=1e-6)
    twin.eval()  # validation: the plain cross-entropy, comparable with any RNN's
    assert float(family.loss(twin, batch, torch.device("cpu"))[0]) == pytest.approx(float(plain), rel=1e-6)


def test_the_teachers_term_draws_a_new_student_to_its_predictions(teacher) -> None:
    _, model = teacher
    family = DistillingRnnFamily(model.network, weight=1.0)  # the teacher's term alone
    torch.manual_seed(0)
    student = model.family.build(model.config).train()
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-2)
    batch = _batch(model)
    kls = []
    for _ in range(30):
        loss, parts = family.loss(student, batch, torch.device("cpu"))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        kls.append(parts["kl"])
    assert kls[0] > 0.5 and kls[-1] < 0.5 * kls[0]


def test_a_student_reads_its_teachers_tokens_and_is_saved_as_a_plain_rnn(teacher, tmp_path: Path) -> None:
    folder, model = teacher
    rnn = get_family("rnn")
    request = TrainRequest(family="rnn", corpus="tiny", size="debug", distill_from=str(folder), device="cpu")
    wide = rnn.make_config("debug", hidden=48, steps_per_beat=2)  # another grid: the teacher's wins
    family, config, loaded = _distilling(rnn, wide, request)
    assert isinstance(family, DistillingRnnFamily) and loaded.name == "rnn-teacher"
    assert config.hidden == 48 and config.steps_per_beat == model.config.steps_per_beat == 4
    corpus = tiny_corpus()
    result = train(family, config, corpus.split("train"), corpus.split("valid"), tmp_path / "student",
                   TrainConfig(steps=20, batch_size=8, eval_every=10, warmup=5, lr=1e-2), device="cpu")
    assert result.status == "finished"
    student = load_model(tmp_path / "student", device="cpu")
    assert student.family.name == "rnn" and type(student.family).__name__ == "RnnFamily"
    assert student.config.hidden == 48


def test_only_an_rnn_learns_and_only_from_an_rnn(teacher, debug_gan, tmp_path: Path,
                                                 tmp_path_factory: pytest.TempPathFactory) -> None:
    folder, _ = teacher
    with pytest.raises(TrainingRequestError, match="Only an RNN"):
        _distilling(get_family("gan"), None, TrainRequest(family="gan", corpus="tiny", distill_from=str(folder)))
    rnn = get_family("rnn")
    gan_folder = next(tmp_path_factory.getbasetemp().glob("models*/gan-choir"))  # the debug_gan fixture's
    for source, message in ((gan_folder, "an RNN learns from an RNN"), (tmp_path / "nothing", "cannot be loaded")):
        with pytest.raises(TrainingRequestError, match=message):
            _distilling(rnn, rnn.make_config("debug"), TrainRequest(family="rnn", corpus="tiny",
                                                                    distill_from=str(source)))
