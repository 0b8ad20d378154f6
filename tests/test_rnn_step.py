"""The fast sampling step: the same logits as nn.LSTM, and the same music for the same random seed."""

from __future__ import annotations

from dataclasses import fields, replace

import pytest
import torch

from musicgen.generate import generate, load_model
from musicgen.midi import load_midi
from musicgen.models import rnn_step
from musicgen.models.rnn import RnnConfig, RnnFamily, RnnModel
from musicgen.models.rnn_step import RnnStepper
from musicgen.paths import ASSETS
from musicgen.sampling import SampleParams

CHORALE = ASSETS / "examples" / "bach-chorale-bwv66.6-opening.mid"


def lstm_and_stepper_logits(model: RnnModel, batch: int, steps: int, seed: int = 0):
    """Both implementations fed the same random tokens from the same random state: logits per step, final states."""
    torch.manual_seed(seed)
    L, H, V = model.lstm.num_layers, model.lstm.hidden_size, model.head.out_features
    state = (torch.randn(L, batch, H), torch.randn(L, batch, H))
    stepper = RnnStepper(model, batch)
    stepper.load_state(state)
    pairs = []
    with torch.no_grad():
        for _ in range(steps):
            tokens = torch.randint(0, V, (batch,))
            positions = torch.randint(0, model.positions.num_embeddings, (batch,))
            logits, state = model(tokens[:, None], positions[:, None], state)
            pairs.append((logits[:, -1], stepper.step(tokens, positions).clone()))
    return pairs, state, stepper.state()


@pytest.mark.parametrize(("layers", "positions", "table_limit"), [
    (1, 1, None), (2, 16, None), (3, 12, None), (2, 16, 0),
], ids=["1-layer", "2-layers-16-positions", "3-layers-12-positions", "two-gathers"])
def test_logits_and_state_equal_nn_lstm(layers: int, positions: int, table_limit: int | None,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    if table_limit is not None:  # a table too big to combine tokens and positions: two gathers
        monkeypatch.setattr(rnn_step, "MAX_TABLE_BYTES", table_limit)
    torch.manual_seed(1)
    config = RnnConfig(lowest=48, n_pitches=24, embed=12, hidden=20, layers=layers, steps_per_bar=positions,
                       dropout=0.3)
    model = RnnModel(config).eval()
    pairs, state, stepped = lstm_and_stepper_logits(model, batch=3, steps=40)
    for reference, fast in pairs:
        assert torch.allclose(reference, fast, atol=1e-5, rtol=1e-5)
    for reference, fast in zip(state, stepped, strict=True):
        assert fast.shape == reference.shape
        assert torch.allclose(reference, fast, atol=1e-5, rtol=1e-5)


@pytest.mark.skipif("shared_pitch" not in {f.name for f in fields(RnnConfig)}, reason="no shared pitch terms")
def test_logits_equal_nn_lstm_with_shared_pitch_terms() -> None:
    torch.manual_seed(3)
    config = RnnConfig(lowest=48, n_pitches=24, embed=12, hidden=20, layers=2, steps_per_bar=4,
                       **{"shared_pitch": True})
    model = RnnModel(config).eval()
    pairs, _, _ = lstm_and_stepper_logits(model, batch=2, steps=30)
    for reference, fast in pairs:
        assert torch.allclose(reference, fast, atol=1e-5, rtol=1e-5)


def test_shipped_model_logits_equal_nn_lstm() -> None:
    model = load_model("rnn-jsb", "cpu")
    pairs, state, stepped = lstm_and_stepper_logits(model.network, batch=4, steps=30)
    for reference, fast in pairs:  # float32 summed in another order: within 1e-5 of the logit's size
        assert torch.allclose(reference, fast, atol=1e-5, rtol=1e-5)
    assert torch.allclose(state[1], stepped[1], atol=1e-5, rtol=1e-5)


def test_a_one_sequence_state_is_shared_by_the_batch() -> None:
    torch.manual_seed(2)
    model = RnnModel(RnnConfig(embed=8, hidden=16, layers=2, n_pitches=12, lowest=60)).eval()
    h, c = torch.randn(2, 1, 16), torch.randn(2, 1, 16)
    stepper = RnnStepper(model, batch=5)
    stepper.load_state((h, c))
    got_h, got_c = stepper.state()
    assert torch.equal(got_h, h.expand(-1, 5, -1)) and torch.equal(got_c, c.expand(-1, 5, -1))
    logits = stepper.step(torch.full((5,), 7), torch.full((5,), 3))
    # the same input from the same state: the same output (to float rounding: BLAS may block rows differently)
    assert torch.allclose(logits, logits[:1].expand(5, -1), atol=1e-6, rtol=1e-6)


def test_made_in_inference_mode_and_stepped_outside_it() -> None:
    model = RnnModel(RnnConfig(embed=8, hidden=16, layers=1, n_pitches=12, lowest=60)).eval()
    with torch.inference_mode():
        stepper = RnnStepper(model, batch=2)
    logits = stepper.step(torch.tensor([3, 4]), torch.tensor([0, 1]))
    assert logits.shape == (2, model.head.out_features) and not logits.requires_grad


def test_bad_batch_is_refused() -> None:
    model = RnnModel(RnnConfig(embed=8, hidden=16, layers=1)).eval()
    with pytest.raises(ValueError, match="batch"):
        RnnStepper(model, batch=0)


def plain(model):
    """The model sampled through nn.LSTM once per token, as before the stepper."""
    return replace(model, family=RnnFamily(fast_step=False))


@pytest.mark.parametrize("params", [
    SampleParams(bars=4, n_variations=4, random_seed=3),
    SampleParams(bars=2, n_variations=3, random_seed=11, temperature=0.7, top_p=0.9, key_lock="auto",
                 max_polyphony=3),
], ids=["defaults", "key-lock-top-p-polyphony"])
def test_debug_model_generates_the_same_music_with_and_without_the_stepper(debug_rnn, params: SampleParams) -> None:
    seed = load_midi(CHORALE)
    assert generate(debug_rnn, seed, params) == generate(plain(debug_rnn), seed, params)


def test_shipped_model_generates_the_same_music_with_and_without_the_stepper() -> None:
    model = load_model("rnn-jsb", "cpu")
    seed = load_midi(CHORALE)
    params = SampleParams(bars=4, n_variations=4, random_seed=5, top_p=0.95)
    fast = generate(model, seed, params)
    assert fast == generate(plain(model), seed, params)
    assert all(len(take.notes) > len(seed.notes) for take in fast)  # it did write music
