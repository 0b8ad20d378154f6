"""The GAN family on a debug model: rolls and notes, shapes, noise, key lock, checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from enginefixtures import tiny_corpus, train_debug_gan

from musicgen.generate import generate, load_model
from musicgen.midi import load_midi
from musicgen.models.gan_rolls import cut_segments, join_segments, rolls_to_notes, score_to_rolls, segment_steps
from musicgen.models.registry import get_family
from musicgen.sampling import SampleParams, SampleParamsError, parse_key
from musicgen.score import Score, Track
from musicgen.train import TrainConfig, train

ROOT = Path(__file__).resolve().parent.parent
ODE = load_midi(ROOT / "assets" / "examples" / "ode-to-joy-melody.mid")
CHORALE = load_midi(ROOT / "assets" / "examples" / "bach-chorale-bwv66.6-opening.mid")


@pytest.fixture(scope="module")
def debug_gan(tmp_path_factory: pytest.TempPathFactory):
    """A debug-size GAN trained for a few seconds on the tiny corpus, loaded on the CPU."""
    return train_debug_gan(tmp_path_factory.mktemp("models") / "gan-tiny")


def new_notes(take: Score, seed: Score) -> list:
    return [n for n in take.notes if n.track >= len(seed.tracks)]


# ----------------------------------------------------------------- rolls and notes
def test_runs_of_a_pitch_are_held_notes_and_onsets_cut_them() -> None:
    rolls = np.zeros((2, 8, 3), dtype=bool)
    rolls[0, 0:4, 0] = True  # pitch 60 sounds for 4 steps...
    rolls[1, 0, 0] = rolls[1, 2, 0] = True  # ...struck at 0 and again at 2
    rolls[0, 5:8, 2] = True  # pitch 62 for 3 steps, no onset marked: still one note
    rolls[0, [1, 2, 4], 1] = True  # pitch 61 for 2 steps, a rest, then 1 step: two notes
    notes = rolls_to_notes(rolls, lowest=60, start_step=10)
    assert sorted((n.pitch, n.start, n.duration) for n in notes) == [(60, 10, 2), (60, 12, 2), (61, 11, 2),
                                                                     (61, 14, 1), (62, 15, 3)]


def test_score_to_rolls_and_back_is_the_same_music() -> None:
    score = Score.from_tuples([(60, 80, 0, 4), (60, 80, 4, 6), (64, 80, 0, 8), (67, 80, 6, 7), (72, 80, 8, 16)])
    rolls = score_to_rolls(score, lowest=48, n_pitches=36)
    assert rolls.shape == (2, 16, 36)
    back = Score(tuple(rolls_to_notes(rolls, lowest=48)), length=score.length)
    assert back.to_tuples() == score.to_tuples()


@pytest.mark.parametrize(("bar", "segment"), [(16, 16), (12, 12), (8, 8), (18, 9), (24, 12), (2, 16), (1, 16)],
                         ids=["4/4", "6/8", "2/4", "9/8", "12/8", "1/8", "1/16"])
def test_every_meter_has_a_segment_that_fits_the_canvas(bar: int, segment: int) -> None:
    assert segment_steps(bar, 16) == segment


def test_segments_cut_and_join_are_inverse() -> None:
    rolls = np.random.default_rng(0).random((2, 36, 5)) > 0.7
    segments = cut_segments(rolls, 12, 16)
    assert segments.shape == (3, 2, 16, 5) and not segments[:, :, 12:].any()
    assert (join_segments(segments, 12) == rolls).all()


# ----------------------------------------------------------------- the network
def test_networks_have_the_documented_shapes() -> None:
    family = get_family("gan")
    config = family.make_config("debug")
    net = family.build(config)
    B, S, P = 3, config.bar_steps, config.n_pitches
    prev = torch.zeros(B, 2, S, P)
    length = torch.tensor([16, 12, 8])
    probs = net.generator.probabilities(torch.randn(B, config.latent), prev, length)
    assert probs.shape == (B, 2, S, P)
    assert not probs[1, :, 12:].any() and not probs[2, :, 8:].any()  # silent past each bar's length
    assert (probs[:, 1] <= probs[:, 0]).all()  # a note starts only where it sounds
    score, features = net.critic(probs, prev, length)
    assert score.shape == (B,) and features.shape[0] == B
    assert net.encoder(probs, prev, length).shape == (B, 2 * config.latent)


# ----------------------------------------------------------------- generation
@pytest.mark.parametrize("seed", [ODE, CHORALE], ids=["melody", "chorale"])
def test_the_seed_is_unchanged_and_new_bars_follow_on_the_grid_in_range(debug_gan, seed: Score) -> None:
    takes = generate(debug_gan, seed, SampleParams(bars=3, n_variations=3, noise=1.0, threshold=0.3))
    config = debug_gan.config
    start = seed.padded_to_bar().length
    assert len(takes) == 3
    for take in takes:
        assert take.tracks[: len(seed.tracks)] == seed.tracks
        assert tuple(n for n in take.notes if n.track < len(seed.tracks)) == seed.notes
        assert take.length == start + 3 * seed.steps_per_bar
        assert take.steps_per_beat == seed.steps_per_beat and take.time_signature == seed.time_signature
        for n in new_notes(take, seed):
            assert start <= n.start and n.end <= take.length
            assert config.lowest - 36 <= n.pitch < config.lowest + config.n_pitches + 36
    assert any(new_notes(t, seed) for t in takes)


def test_noise_zero_is_deterministic_and_the_same_for_every_variation(debug_gan) -> None:
    params = SampleParams(bars=2, n_variations=3, noise=0.0, random_seed=1)
    takes = generate(debug_gan, ODE, params)
    assert takes[0] == takes[1] == takes[2]
    assert generate(debug_gan, ODE, SampleParams(bars=2, n_variations=1, noise=0.0, random_seed=9))[0] == takes[0]


def test_same_random_seed_same_music(debug_gan) -> None:
    params = SampleParams(bars=2, n_variations=2, noise=1.0, random_seed=5)
    assert generate(debug_gan, CHORALE, params) == generate(debug_gan, CHORALE, params)


def _distance_from_seed(model, seed: Score, noise: float) -> float:
    """Mean share of roll cells that differ between each new bar and the seed's bar it varies."""
    takes = generate(model, seed, SampleParams(bars=4, n_variations=8, noise=noise, random_seed=3, threshold=0.3))
    bar = seed.steps_per_bar
    start = seed.padded_to_bar().length
    original = seed.padded_to_bar().piano_roll()
    n_seed_bars = start // bar
    out = []
    for take in takes:
        roll = take.piano_roll(tracks=[len(seed.tracks)])
        for j in range(4):
            made = roll[start + j * bar: start + (j + 1) * bar]
            real = original[(j % n_seed_bars) * bar: (j % n_seed_bars + 1) * bar]
            out.append(np.mean(made != real))
    return float(np.mean(out))


def test_distance_from_the_seed_grows_with_noise(debug_gan) -> None:
    distances = [_distance_from_seed(debug_gan, ODE, noise) for noise in (0.0, 1.0, 2.0)]
    assert distances[0] < distances[1] < distances[2]


@pytest.mark.parametrize("key", ["auto", "D minor", "F# major"])
def test_key_lock_holds(debug_gan, key: str) -> None:
    scale = ODE.estimate_key().scale if key == "auto" else parse_key(key).scale
    takes = generate(debug_gan, ODE, SampleParams(bars=4, n_variations=4, noise=1.5, threshold=0.2, key_lock=key))
    pitch_classes = [n.pitch % 12 for t in takes for n in new_notes(t, ODE)]
    assert pitch_classes and set(pitch_classes) <= scale


def test_max_polyphony_holds(debug_gan) -> None:
    takes = generate(debug_gan, CHORALE, SampleParams(bars=2, n_variations=4, noise=1.5, threshold=0.1,
                                                      max_polyphony=2))
    for take in takes:
        assert take.piano_roll(tracks=[len(CHORALE.tracks)]).sum(axis=1).max() <= 2


def test_a_lower_threshold_gives_more_notes(debug_gan) -> None:
    def count(threshold: float) -> int:
        takes = generate(debug_gan, ODE, SampleParams(bars=4, n_variations=4, noise=1.0, threshold=threshold))
        return sum(len(new_notes(t, ODE)) for t in takes)

    assert count(0.2) > count(0.6)


def test_without_a_seed_it_writes_bars_from_silence(debug_gan) -> None:
    takes = generate(debug_gan, None, SampleParams(bars=2, n_variations=2, noise=1.0, threshold=0.2))
    assert all(t.length == 2 * 16 for t in takes)


def test_other_meters_and_grids_keep_the_seeds(debug_gan) -> None:
    waltz = Score.from_tuples([(67, 80, 0, 6), (64, 80, 6, 12)], time_signature=(3, 4), steps_per_beat=2,
                              tracks=(Track("Flute", 73),))
    takes = generate(debug_gan, waltz, SampleParams(bars=2, n_variations=2, threshold=0.2))
    for take in takes:
        assert take.length == waltz.padded_to_bar().length + 2 * waltz.steps_per_bar
        assert take.tracks[-1].program == 73


def test_density_moves_the_models_own_threshold() -> None:
    from musicgen.sampling import density_threshold

    assert density_threshold(0.3, 0.5) == 0.3 and density_threshold(0.3, 0.6) == 0.2
    assert density_threshold(0.45, 0.8) == 0.15 and density_threshold(0.1, 0.8) == 0.05  # never below 0.05


def test_a_bad_threshold_is_refused() -> None:
    with pytest.raises(SampleParamsError, match="Threshold"):
        SampleParams(threshold=1.5)


def test_a_saved_and_loaded_checkpoint_gives_the_same_music(debug_gan, tmp_path: Path) -> None:
    from musicgen.checkpoint import save_model

    family = debug_gan.family
    save_model(tmp_path / "copy", family.name, family.config_to_dict(debug_gan.config),
               debug_gan.network.state_dict(), {})
    again = load_model(tmp_path / "copy", device="cpu")
    params = SampleParams(bars=2, n_variations=2, noise=0.7, random_seed=4)
    assert generate(again, CHORALE, params) == generate(debug_gan, CHORALE, params)


def test_training_resumes_with_every_optimizer(tmp_path: Path) -> None:
    corpus = tiny_corpus()
    family = get_family("gan")
    cfg = TrainConfig(steps=20, batch_size=8, eval_every=10, checkpoint_every=10, warmup=2, lr=1e-3)
    steps: list[int] = []
    first = train(family, family.make_config("debug"), corpus.split("train"), corpus.split("valid"), tmp_path, cfg,
                  device="cpu", progress=lambda p: steps.append(p.step), should_stop=lambda: len(steps) >= 10)
    assert first.status == "cancelled"
    second = train(family, family.make_config("debug"), corpus.split("train"), corpus.split("valid"), tmp_path, cfg,
                   device="cpu")
    assert second.status == "finished" and second.steps == 20
    assert [h["step"] for h in second.history] == [10, 20]


@pytest.mark.parametrize(("name", "seed"), [("gan-bach", CHORALE), ("gan-folk", ODE)])
def test_shipped_gans_vary_a_seed_on_the_cpu(name: str, seed: Score) -> None:
    import json

    folder = ROOT / "assets" / "models" / name
    card = json.loads((folder / "card.json").read_text())
    assert card["family"] == "gan" and card["command"].startswith("python -m musicgen train --model gan")
    assert (folder / "model.safetensors").stat().st_size < 8 * 2**20
    model = load_model(name, device="cpu")
    takes = generate(model, seed, SampleParams(bars=2, n_variations=2, random_seed=0))
    for take in takes:
        new = new_notes(take, seed)
        assert new and all(n.start >= seed.padded_to_bar().length for n in new)
        voices = take.piano_roll(tracks=[len(seed.tracks)]).sum(axis=1).max()
        assert voices <= model.config.voices == model.config.parts  # it writes that many voices' lines
