"""The GAN writing around fixed notes, on a debug GAN: harmonize and lock keep what they must."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from test_harmonize import GRACE, ODE, TUNE, check_harmonization
from test_lock import check_locked

from musicgen.constraints import Plan
from musicgen.generate import Lock, generate, harmonize
from musicgen.harmonize import can_harmonize
from musicgen.lock import locked_notes
from musicgen.midi import load_midi
from musicgen.sampling import SampleParams, parse_key
from musicgen.score import Score

ROOT = Path(__file__).resolve().parent.parent
CHORALE = load_midi(ROOT / "assets" / "examples" / "bach-chorale-bwv66.6-opening.mid")


@pytest.fixture(scope="module")
def gan(debug_gan):
    return debug_gan


def on_grid(model, steps_per_beat: int):
    """The same GAN thinking on another grid (2: eighth notes, as gan-bach)."""
    return replace(model, config=replace(model.config, steps_per_beat=steps_per_beat))


def test_the_gan_family_can_harmonize_and_lock() -> None:
    assert can_harmonize("gan") and can_harmonize("rnn")


# ----------------------------------------------------------------- harmonize
# (The melody kept with three voices under it: test_harmonize.py, for both families.)
def test_a_coarser_model_grid_still_keeps_every_melody_note(gan) -> None:
    """As gan-bach: the model thinks in eighth notes, the melody is in sixteenths."""
    for melody in (TUNE, ODE, GRACE):
        for take in harmonize(on_grid(gan, 2), melody, SampleParams(n_variations=2, random_seed=4)):
            check_harmonization(take, melody, beat=2)
            assert all(n.start % 2 == 0 and n.end % 2 == 0 for n in take.notes if n.track > 0)


def test_a_melody_on_quarter_notes(gan) -> None:
    """As the harmonize benchmark: a soprano on quarter-note steps, the model on sixteenths."""
    melody = replace(ODE.resample(1), bpm=80)
    for take in harmonize(gan, melody, SampleParams(n_variations=2, random_seed=1)):
        check_harmonization(take, melody)


def test_same_random_seed_same_harmonization_another_seed_another(gan) -> None:
    params = SampleParams(n_variations=2, random_seed=11, noise=1.0)
    first = harmonize(gan, TUNE, params)
    assert harmonize(gan, TUNE, params) == first
    assert harmonize(gan, TUNE, replace(params, random_seed=12)) != first


# (Rewriting part of a harmonization: test_harmonize.py, for both families.)


# ----------------------------------------------------------------- lock
@pytest.fixture(scope="module")
def take(gan) -> Score:
    """Three bars of a chorale and a bar the GAN wrote: five tracks, four bars."""
    seed = replace(CHORALE.crop_bars(0, 3), tracks=CHORALE.tracks)
    return generate(gan, seed, SampleParams(bars=1, n_variations=1, random_seed=3, threshold=0.3))[0]


@pytest.mark.parametrize("steps_per_beat", [4, 2], ids=["same-grid", "eighth-notes"])
@pytest.mark.parametrize("lock", [Lock(bars=(1, 2)), Lock(bars=(2, 4)), Lock(tracks=(0, 3)),
                                  Lock(bars=(3,), tracks=(1,)), Lock.from_bar(3)],
                         ids=["first-bars", "bars-around", "tracks", "both", "from-bar-3"])
def test_locked_bars_and_tracks_are_kept_bit_for_bit(gan, take: Score, lock: Lock, steps_per_beat: int) -> None:
    results = generate(on_grid(gan, steps_per_beat), take, SampleParams(n_variations=2, threshold=0.3, noise=1.0),
                       lock=lock)
    assert len(results) == 2
    for result in results:
        check_locked(result, take, lock)
    if steps_per_beat == 4:  # on the grid it learned, it writes something in the open bars
        assert any(set(r.notes) - set(locked_notes(take, lock)) for r in results)


def test_same_random_seed_same_rewrite(gan, take: Score) -> None:
    params, lock = SampleParams(n_variations=2, random_seed=9, threshold=0.3), Lock(bars=(1, 3))
    assert generate(gan, take, params, lock=lock) == generate(gan, take, params, lock=lock)


# ----------------------------------------------------------------- the plan's limits
@pytest.mark.parametrize("steps_per_beat", [4, 2, 1], ids=["same-grid", "eighth-notes", "quarter-notes"])
def test_new_notes_stay_in_free_steps_under_the_ceiling_and_off_fixed_notes(gan, steps_per_beat: int) -> None:
    frame = CHORALE.crop_bars(0, 3)
    free = np.ones(frame.length, dtype=bool)
    free[8:20] = free[32:40] = False  # on quarter-note boundaries, which every grid here sees exactly
    ceiling = np.full(frame.length, 128)
    ceiling[:16], ceiling[24:28] = 66, 0
    fixed = tuple(n for n in frame.notes if n.track == 0)
    plan = Plan(frame=frame, fixed=fixed, free=free, ceiling=ceiling, reference=frame)
    model = on_grid(gan, steps_per_beat)
    params = SampleParams(n_variations=3, threshold=0.2, noise=1.0)
    sampled = model.family.sample_constrained(model.network, model.config, plan, params, torch.device("cpu"))
    assert len(sampled) == 3 and any(sampled)
    for notes in sampled:
        for n in notes:
            steps = range(n.start, n.end)
            assert all(free[t] and n.pitch < ceiling[t] for t in steps), n
            assert not any(f.pitch == n.pitch and f.start < n.end and n.start < f.end for f in fixed), n


def test_the_key_lock_holds_in_what_it_writes(gan, take: Score) -> None:
    scale = parse_key("F# minor").scale
    for result in generate(gan, take, SampleParams(n_variations=2, threshold=0.2, key_lock="F# minor"),
                           lock=Lock(bars=(1, 2))):
        assert all(n.pitch % 12 in scale for n in set(result.notes) - set(take.notes))


def test_cli_harmonize_with_a_gan(tmp_path: Path) -> None:
    from musicgen.__main__ import main
    from musicgen.midi import score_to_bytes

    melody = tmp_path / "tune.mid"
    melody.write_bytes(score_to_bytes(TUNE))
    out = tmp_path / "out"
    assert main(["harmonize", str(melody), "--model", "gan-bach", "--variations", "2", "--noise", "1",
                 "--device", "cpu", "--out", str(out)]) == 0
    takes = [load_midi(f) for f in sorted(out.glob("*.mid"))]
    assert len(takes) == 2
    for take in takes:
        assert [(n.start, n.pitch, n.duration) for n in take.notes if n.track == 0] == [
            (n.start, n.pitch, n.duration) for n in TUNE.notes]
