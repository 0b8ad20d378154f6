"""What the GAN's noise control does: how far its new bars stray from the seed's, noise by noise.

A GAN variation draws each new bar from the latent of a seed bar (the seed's bars in
order, round and round) plus ``noise`` times a Gaussian. At noise 0 the new bars
should restate the seed's; as noise grows they should stray further, and the
variations of one seed from each other. :func:`noise_ladder` measures both on
held-out seeds with the Jaccard distance of piano-roll cells (1 - shared / either:
0 for the same bar, 1 for bars with no (pitch, step) cell in common), and, for
scale, the distance of the real continuation's bars from the same seed bars.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import numpy as np

from .score import Score

if TYPE_CHECKING:
    from .evaluate import EvalSettings, Seed

NOISE_LEVELS = (0.0, 0.5, 1.0, 1.5, 2.0)
LADDER_SEEDS = 20  # held-out seeds measured, spread over those the evaluation uses
LADDER_VARIATIONS = 4  # variations per seed and noise level


def jaccard_distance(a: np.ndarray, b: np.ndarray) -> float:
    """1 - |a and b| / |a or b| over boolean piano-roll cells (0 when both are silent)."""
    either = int((a | b).sum())
    return 1.0 - int((a & b).sum()) / either if either else 0.0


def distance_from_seed(seed: Score, continuation: Score) -> float:
    """Mean Jaccard distance of each bar of ``continuation`` from the seed bar it varies
    (bar k from seed bar k mod the seed's bars)."""
    bar = seed.steps_per_bar
    original = seed.padded_to_bar().piano_roll()
    n_seed = max(1, original.shape[0] // bar)
    made = continuation.padded_to_bar().piano_roll()
    return float(np.mean([jaccard_distance(made[k * bar:(k + 1) * bar], original[(k % n_seed) * bar:
                                                                                (k % n_seed + 1) * bar])
                          for k in range(continuation.n_bars)]))


def noise_ladder(model: Any, seeds: list[Seed], settings: EvalSettings) -> dict[str, Any]:
    """Distance from the seed's bars and between variations at each of :data:`NOISE_LEVELS`.

    The same seeds and random seeds at every level, so the levels differ only in noise.
    """
    from .generate import generate
    from .sampling import SampleParams

    step = max(1, len(seeds) // LADDER_SEEDS)
    picked = seeds[::step][:LADDER_SEEDS]
    levels = []
    for noise in NOISE_LEVELS:
        from_seed, between = [], []
        for i, s in enumerate(picked):
            seed = s.seed(settings.seed_bars)
            params = SampleParams(bars=s.bars, n_variations=LADDER_VARIATIONS, noise=noise,
                                  random_seed=settings.random_seed + i)
            start = seed.padded_to_bar().length
            new = [take.crop(start, start + s.bars * seed.steps_per_bar) for take in generate(model, seed, params)]
            from_seed += [distance_from_seed(seed, n) for n in new]
            between += [jaccard_distance(a.piano_roll(), b.piano_roll()) for a, b in itertools.combinations(new, 2)]
        levels.append({"noise": noise, "from_seed": float(np.mean(from_seed)),
                       "between_variations": float(np.mean(between))})
    real = [distance_from_seed(s.seed(settings.seed_bars), s.real(settings.seed_bars)) for s in picked]
    from_seed = [level["from_seed"] for level in levels]
    return {"levels": levels, "real_from_seed": float(np.mean(real)), "seeds": len(picked),
            "variations": LADDER_VARIATIONS,
            "grows": all(a < b for a, b in itertools.pairwise(from_seed)),
            "closest_at_zero": from_seed[0] < float(np.mean(real))}


def ladder_table(ladder: dict[str, Any]) -> list[str]:
    """Markdown: the ladder, one row per noise level, and the real continuations for scale."""
    lines = ["| noise | distance of the new bars from the seed's | distance between variations |", "|---|---|---|"]
    for level in ladder["levels"]:
        lines.append(f"| {level['noise']:g} | {level['from_seed']:.3f} | {level['between_variations']:.3f} |")
    lines.append(f"| (the real continuation) | {ladder['real_from_seed']:.3f} | |")
    return lines
