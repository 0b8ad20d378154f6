"""Generation on a tiny trained RNN: seeds kept, grid and range, locks, reproducibility."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from musicgen.generate import generate, load_model
from musicgen.midi import MidiInputError, load_midi
from musicgen.models.registry import ModelNotFound, list_models, resolve_model
from musicgen.sampling import DeviceError, SampleParams, SampleParamsError, choose_device, parse_key
from musicgen.score import Score, Track

ROOT = Path(__file__).resolve().parent.parent
ODE = load_midi(ROOT / "assets" / "examples" / "ode-to-joy-melody.mid")
CHORALE = load_midi(ROOT / "assets" / "examples" / "bach-chorale-bwv66.6-opening.mid")


def new_notes(take: Score, seed: Score) -> list:
    return [n for n in take.notes if n.track >= len(seed.tracks)]


@pytest.mark.parametrize("seed", [ODE, CHORALE], ids=["melody", "chorale"])
def test_the_seed_is_kept_unchanged_and_new_music_follows(debug_rnn, seed: Score) -> None:
    takes = generate(debug_rnn, seed, SampleParams(bars=2, n_variations=3, random_seed=1))
    assert len(takes) == 3
    start = seed.padded_to_bar().length
    for take in takes:
        assert take.tracks[: len(seed.tracks)] == seed.tracks
        assert tuple(n for n in take.notes if n.track < len(seed.tracks)) == seed.notes
        assert take.length == start + 2 * seed.steps_per_bar
        for n in new_notes(take, seed):
            assert start <= n.start and n.end <= take.length
            assert 21 <= n.pitch <= 108


def test_same_random_seed_same_music_other_seed_other_music(debug_rnn) -> None:
    params = SampleParams(bars=2, n_variations=2, random_seed=5)
    assert generate(debug_rnn, ODE, params) == generate(debug_rnn, ODE, params)
    other = generate(debug_rnn, ODE, SampleParams(bars=2, n_variations=2, random_seed=6))
    assert other != generate(debug_rnn, ODE, params)


def test_variations_of_one_batch_differ(debug_rnn) -> None:
    takes = generate(debug_rnn, ODE, SampleParams(bars=4, n_variations=4, random_seed=0, temperature=1.2))
    assert len({tuple(new_notes(t, ODE)) for t in takes}) > 1


def test_temperature_zero_gives_the_likeliest_continuation(debug_rnn) -> None:
    takes = generate(debug_rnn, ODE, SampleParams(bars=2, n_variations=3, temperature=0.0, random_seed=1))
    assert takes[0] == takes[1] == takes[2]
    again = generate(debug_rnn, ODE, SampleParams(bars=2, n_variations=1, temperature=0.0, random_seed=99))
    assert again[0] == takes[0]


def _pitch_variety(model, temperature: float) -> float:
    takes = generate(model, ODE, SampleParams(bars=4, n_variations=8, temperature=temperature, random_seed=3))
    return float(np.mean([len({n.pitch for n in new_notes(t, ODE)}) for t in takes]))


def test_higher_temperature_is_measurably_more_varied(debug_rnn) -> None:
    assert _pitch_variety(debug_rnn, 1.6) > _pitch_variety(debug_rnn, 0.3) + 1


@pytest.mark.parametrize("key", ["auto", "D minor", "F# major"])
def test_key_lock_holds(debug_rnn, key: str) -> None:
    scale = ODE.estimate_key().scale if key == "auto" else parse_key(key).scale
    takes = generate(debug_rnn, ODE, SampleParams(bars=4, n_variations=4, temperature=1.5, key_lock=key))
    onsets = [n.pitch % 12 for t in takes for n in new_notes(t, ODE)]
    assert onsets and set(onsets) <= scale


def test_max_polyphony_holds(debug_rnn) -> None:
    takes = generate(debug_rnn, CHORALE, SampleParams(bars=2, n_variations=4, temperature=1.5, max_polyphony=2))
    for take in takes:
        roll = take.piano_roll(tracks=[len(CHORALE.tracks)])
        assert roll.sum(axis=1).max() <= 2


def test_generating_from_silence(debug_rnn) -> None:
    takes = generate(debug_rnn, None, SampleParams(bars=2, n_variations=2))
    assert all(t.length == 32 for t in takes)


def test_a_drums_only_seed_is_refused(debug_rnn) -> None:
    drums = Score.from_tuples([(36, 100, 0, 2)], tracks=(Track(is_drum=True),))
    with pytest.raises(MidiInputError, match="only drums"):
        generate(debug_rnn, drums, SampleParams())


@pytest.mark.parametrize("bad", [{"bars": 0}, {"bars": 33}, {"n_variations": 9}, {"temperature": 2.5},
                                 {"top_p": 0.0}, {"key_lock": "H minor"}, {"max_polyphony": 0}])
def test_out_of_range_settings_say_the_range(bad: dict) -> None:
    with pytest.raises(SampleParamsError):
        SampleParams(**bad)


def test_device_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MUSICGEN_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert choose_device().type in (expected, "mps")
    assert choose_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("MUSICGEN_DEVICE", "cpu")
    assert choose_device() == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="No CUDA GPU"):
            choose_device("cuda")
    with pytest.raises(DeviceError):
        choose_device("tpu")


def test_registry_lists_user_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from enginefixtures import train_debug_rnn

    monkeypatch.setenv("MUSICGEN_DATA_DIR", str(tmp_path))
    train_debug_rnn(tmp_path / "models" / "mine", steps=20)
    entries = {e.name: e for e in list_models()}
    assert "mine" in entries and not entries["mine"].shipped
    assert entries["mine"].card["family"] == "rnn"
    assert resolve_model("mine") == tmp_path / "models" / "mine"
    assert load_model("mine", device="cpu").name == "mine"
    with pytest.raises(ModelNotFound, match="mine"):
        resolve_model("nobody")


def test_a_key_normalized_model_answers_in_the_seeds_key(debug_rnn) -> None:
    from dataclasses import replace

    from musicgen.models.base import home_key_shift

    model = replace(debug_rnn, config=replace(debug_rnn.config, key_normalized=True))
    seed = ODE.transpose(6)  # F# major
    assert home_key_shift(seed) % 12 == 6 and home_key_shift(ODE) == 0
    takes = generate(model, seed, SampleParams(bars=4, n_variations=4, temperature=1.5, key_lock="auto"))
    onsets = {n.pitch % 12 for t in takes for n in new_notes(t, seed)}
    assert onsets and onsets <= seed.estimate_key().scale
    assert all(t.notes[: len(seed.notes)] == seed.notes for t in takes)


def test_training_music_for_a_key_normalized_model_is_moved_to_c() -> None:
    from musicgen.models.base import to_home_key
    from musicgen.models.rnn import RnnFamily

    tune = ODE.transpose(7)  # G major
    moved = to_home_key(tune)
    assert moved.estimate_key().tonic == 0
    assert [n.pitch for n in moved.notes] == [n.pitch + 5 for n in tune.notes]  # up a fourth, the nearer way
    assert to_home_key(ODE).notes == ODE.notes
    assert RnnFamily().make_config("folk").key_normalized  # the fiddle-tune model learns every tune in C


def test_seeds_move_by_octaves_to_the_register_the_model_learned(debug_rnn) -> None:
    from dataclasses import replace

    from musicgen.models.rnn import home_shift

    high = replace(debug_rnn.config, key_normalized=True, register=ODE.transpose(12).notes[0].pitch)
    assert home_shift(ODE, high) == 12  # C major already: only the octave moves
    model = replace(debug_rnn, config=high)
    take = generate(model, ODE, SampleParams(bars=2, n_variations=1))[0]
    assert take.notes[: len(ODE.notes)] == ODE.notes  # the seed itself never moves


def test_each_sampled_token_reads_the_bar_position_training_gave_it(debug_rnn) -> None:
    """The model is fed every new token with the position of its own step, as in training
    (a STEP token: the step it closes), never the next step's."""
    from musicgen.models.rnn import RnnFamily

    family, config = RnnFamily(fast_step=False), debug_rnn.config  # the slow path feeds the positions embedding
    fed: list[torch.Tensor] = []
    hook = debug_rnn.network.positions.register_forward_hook(lambda _m, args, _out: fed.append(args[0].clone()))
    try:
        params = SampleParams(bars=2, n_variations=1, random_seed=5)
        take = family.generate(debug_rnn.network, config, ODE, params, torch.device("cpu"))[0]
    finally:
        hook.remove()
    primed = fed[0].numel()  # the seed, read in one call
    new_positions = torch.cat([f.reshape(-1) for f in fed[1:]]).numpy()
    _, positions = family.encode(family.prepare(take, config), config)
    assert len(positions) == primed + len(new_positions)  # the seed's tokens, then one per sampled token
    np.testing.assert_array_equal(new_positions, positions[primed:])
