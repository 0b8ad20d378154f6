"""The GAN family: a convolutional GAN of piano-roll bars, each conditioned on the bar before.

MidiNet-style: the generator turns a latent ``z`` and the previous bar into the next
bar (sounding and onset probabilities over ``steps x pitches``), so it continues
music bar by bar. Trained VAE-GAN style (Larsen et al. 2016): a critic that also
sees each bar's pitch-class profile (non-saturating loss, one-sided label smoothing,
generated bars thresholded as they will be played, straight-through gradients),
feature matching, and an encoder whose latents the generator must redraw real bars
from (with a KL term keeping them near the prior): the encoder is the GAN inversion.

Variations of a seed: the encoder gives the latents of the seed's bars (no slow
search: one pass), and each new bar is drawn from the seed's latents
(taken in order, round and round) plus ``noise`` times a Gaussian: at noise 0 the new
bars restate the seed, and they stray further as noise grows. Without a seed the
latents are ``noise`` times a Gaussian (0: the model's most typical music). Outputs
become notes by thresholding (runs of a pitch are held notes, cut where the onset
channel marks a re-strike), after the key lock and the polyphony limit.

With ``parts``, the generator writes that many voices' lines instead of a merged roll
(one pitch or a rest per voice and step), decoded voice by voice: each new note's
pitch is drawn at the call's temperature (times the model's own), so at noise 0 the
new bars restate the seed's rhythm and harmony with the pitches the model is unsure
of drawn anew (temperature 0 too: the seed as the model redraws it). See ``gan_lines.py``.

Harmonize and lock (writing around fixed notes) invert each bar with the fixed
notes' roll rows held: see ``gan_constraints.py``. See ``gan_nets.py`` for the
networks and ``gan_rolls.py`` for rolls and segments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from ..constraints import Plan
from ..sampling import SampleParams
from ..score import Note, Score
from .base import ModelFamily
from .gan_lines import line_loss, straight_through_lines
from .gan_nets import GanModel, steps_mask
from .gan_rolls import cut_segments, score_to_rolls, segment_steps
from .gan_sample import bar_statistics, draw, sample_variations

VALIDATION_NOISE = 0.5  # the app's default noise: validation scores variations as the app makes them


@dataclass(frozen=True)
class GanConfig:
    """Everything that rebuilds a GAN model exactly (stored in its checkpoint)."""

    lowest: int = 36  # MIDI pitch of the roll's lowest row
    n_pitches: int = 48  # roll rows, from ``lowest`` up
    steps_per_beat: int = 4  # the model's grid: steps per quarter note
    bar_steps: int = 16  # the canvas: steps of the longest segment (bar) modelled; longer bars are cut
    latent: int = 16  # size of the latent z
    width: int = 128  # channels of every network
    rec_weight: float = 0.05  # the reconstruction of real bars (nats per bar) in the generator's loss
    kl_weight: float = 0.05  # the KL term keeping encoded latents near the Gaussian prior, within it
    adv_weight: float = 1.0  # the adversarial terms in the generator's loss
    fm_weight: float = 1.0  # feature matching, within the adversarial terms
    critic_lr: float = 1.0  # the critic's learning rate, as a multiple of the generator's
    critic_sees: str = "thresholded"  # generated bars for the critic: "thresholded", "sampled" or "probabilities"
    real_label: float = 0.9  # one-sided label smoothing: the critic's target for real bars
    threshold: float = 0.5  # a pitch sounds (lines: a voice sings) where its probability exceeds this (per call)
    voices: int = 0  # most notes sounding at once in what it writes (0: any): 1 for melodies
    transpose: int = 3  # training augmentation: random transpositions within +-this many semitones
    parts: int = 0  # 0: the generator writes a merged roll, thresholded; V: V voices' lines (``gan_lines``)
    temperature: float = 1.0  # lines: the model's own temperature for pitches (the call's temperature multiplies it)
    key_normalized: bool = False  # trained in C major / C minor only: seeds are moved there and back
    voice_leading: bool = False  # lines: drawn a step at a time through a network (``gan_leading.VoiceLeading``)


class BarPairs(Dataset):
    """Segments with the segment before each (silence before a piece's first), and their lengths.

    Each item is ``(bar (2, S, P), previous (2, S, P), length ())``; a training item is
    a random segment moved by a random transposition that keeps both in the window.
    """

    def __init__(self, segments: np.ndarray, previous: np.ndarray, lengths: np.ndarray, train: bool,
                 transpose: int) -> None:
        self.segments, self.previous, self.lengths = segments, previous, lengths  # (N, 2, S, P), (N,), (N,)
        self.train, self.transpose = train, transpose
        active = segments[:, 0].any(axis=1)  # (N, P)
        both = active | np.where(previous[:, None] >= 0, active[previous.clip(min=0)], False)
        rows = np.arange(segments.shape[-1])
        self.low = np.where(both, rows, 10**6).min(axis=1)
        self.high = np.where(both, rows, -1).max(axis=1)
        self.rng = np.random.default_rng(0)

    def __len__(self) -> int:
        return len(self.segments)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        shift = 0
        if self.train:
            i = int(self.rng.integers(len(self.segments)))
            n_pitches = self.segments.shape[-1]
            options = [k for k in range(-self.transpose, self.transpose + 1)
                       if self.low[i] + k >= 0 and self.high[i] + k < n_pitches]
            shift = int(self.rng.choice(options)) if options else 0
        bar = self.segments[i]
        prev = self.segments[self.previous[i]] if self.previous[i] >= 0 else np.zeros_like(bar)
        if shift:
            bar, prev = np.roll(bar, shift, axis=-1), np.roll(prev, shift, axis=-1)
        return (torch.from_numpy(bar.astype(np.float32)), torch.from_numpy(prev.astype(np.float32)),
                torch.tensor(int(self.lengths[i])))


class GanFamily(ModelFamily):
    """Variations of a seed from a GAN of bars."""

    name = "gan"
    config_type = GanConfig
    sizes = {  # noqa: RUF012 - read-only table
        "debug": {"lowest": 48, "n_pitches": 36, "latent": 8, "width": 16, "rec_weight": 1.0},
        "bach": {"lowest": 36, "n_pitches": 48, "width": 64, "transpose": 5, "steps_per_beat": 2, "bar_steps": 8,
                 "parts": 4, "voices": 4, "rec_weight": 1.0, "latent": 64, "kl_weight": 0.01, "voice_leading": True},
        "folk": {"lowest": 50, "n_pitches": 48, "width": 64, "transpose": 0, "key_normalized": True, "parts": 1,
                 "voices": 1, "rec_weight": 1.0, "latent": 32, "temperature": 0.3, "voice_leading": True},
        "small": {"lowest": 28, "n_pitches": 72, "width": 96},
        "base": {"lowest": 28, "n_pitches": 72, "width": 128},
    }

    def build(self, config: GanConfig) -> nn.Module:
        if config.bar_steps % 4 or config.bar_steps < 4:
            raise ValueError("bar_steps must be a multiple of 4.")
        model = GanModel(config.latent, config.n_pitches, config.bar_steps, config.width, config.parts,
                         config.voice_leading)
        model.config = config
        return model

    def prepare(self, score: Score, config: GanConfig) -> Score:
        """A score on the model's grid, its pitched tracks merged into one."""
        return score.merge_tracks().resample(config.steps_per_beat)

    def segments(self, score: Score, config: GanConfig) -> tuple[np.ndarray, int]:
        """A prepared score as ``(N, 2, S, P)`` bool segments, and the segment length."""
        seg = segment_steps(score.steps_per_bar, config.bar_steps)
        return cut_segments(score_to_rolls(score, config.lowest, config.n_pitches), seg, config.bar_steps), seg

    def dataset(self, scores: list[Score], config: GanConfig, train: bool) -> Dataset:
        segments, previous, lengths, count = [], [], [], 0
        for score in scores:
            if not score.has_pitched_notes:
                continue
            segs, seg = self.segments(self.prepare(score, config), config)
            segments.append(segs)
            previous.append(np.arange(count - 1, count - 1 + len(segs)))
            previous[-1][0] = -1
            lengths.append(np.full(len(segs), seg))
            count += len(segs)
        if not segments:
            return BarPairs(np.zeros((0, 2, config.bar_steps, config.n_pitches), dtype=bool),
                            np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), train, config.transpose)
        return BarPairs(np.concatenate(segments), np.concatenate(previous), np.concatenate(lengths), train,
                        config.transpose if train else 0)

    def optimizers(self, net: nn.Module, lr: float, weight_decay: float) -> dict[str, torch.optim.Optimizer]:
        """Adam for the critic, the generator and the encoder (betas 0.5, 0.9, as GANs like)."""
        critic_lr = lr * net.config.critic_lr
        return {"critic": torch.optim.Adam(net.critic.parameters(), lr=critic_lr, betas=(0.5, 0.9)),
                "generator": torch.optim.Adam(net.generator.parameters(), lr=lr, betas=(0.5, 0.9)),
                "encoder": torch.optim.Adam(net.encoder.parameters(), lr=lr, betas=(0.5, 0.9))}

    def train_step(self, model: nn.Module, batch: tuple[torch.Tensor, ...], device: torch.device,
                   optimizers: dict[str, torch.optim.Optimizer], grad_clip: float) -> tuple[float, dict[str, float]]:
        """A critic step, then a step of the generator with the encoder; the critic's loss to log.

        VAE-GAN style: the encoder maps each real bar to a Gaussian of latents, and the
        generator redraws the bar from a latent drawn from it (reconstruction, and a KL
        term keeping those Gaussians near the prior). The critic (non-saturating loss,
        one-sided label smoothing) tells real bars from both the redrawn bars and bars
        made from the prior, each thresholded at 0.5 as they will be played (straight-
        through gradients; lines: each voice's likeliest class, the reconstruction a
        cross-entropy per voice and step); the generator learns to fool it and to
        match its features.
        So every latent means a bar, the encoder inverts the generator, and noise around
        a seed's latents is a controlled departure from the seed.
        """
        bar, prev, length = (b.to(device) for b in batch)
        config, G, D, E = model.config, model.generator, model.critic, model.encoder
        mean, log_var = E(bar, prev, length).chunk(2, dim=1)  # (B, Z) each
        log_var = log_var.clamp(-10.0, 10.0)
        z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
        mask = steps_mask(length, config.bar_steps)  # (B, 1, S, 1)
        if config.parts:
            lines = G.lines(z, prev, length)
            rec = line_loss(*lines, bar, mask[:, 0, :, 0], prev, G.leading)
            rebuilt = straight_through_lines(*lines) * mask
            made = straight_through_lines(*G.lines(torch.randn_like(mean), prev, length)) * mask
            fakes = torch.cat([rebuilt, made])
        else:
            rebuilt = G.probabilities(z, prev, length)  # (B, 2, S, P)
            made = G.probabilities(torch.randn_like(mean), prev, length)
            fakes = torch.cat([_as_critic_sees(rebuilt, config.critic_sees),
                               _as_critic_sees(made, config.critic_sees)])
            rec = nn.functional.binary_cross_entropy(rebuilt.clamp(1e-6, 1 - 1e-6), bar, weight=mask.expand_as(bar),
                                                     reduction="sum") / len(bar)
        prev2, length2 = torch.cat([prev, prev]), torch.cat([length, length])

        real_score, real_features = D(bar, prev, length)
        fake_score, _ = D(fakes.detach(), prev2, length2)
        d_loss = (_bce(real_score, config.real_label) + _bce(fake_score, 0.0)) / 2
        _step([optimizers["critic"]], d_loss, [D], grad_clip)

        kl = -0.5 * (1 + log_var - mean.pow(2) - log_var.exp()).sum() / len(bar)
        fake_score, fake_features = D(fakes, prev2, length2)
        matching = (fake_features.mean(0) - real_features.detach().mean(0)).pow(2).mean()
        adversarial = _bce(fake_score, 1.0)
        g_loss = (config.rec_weight * (rec + config.kl_weight * kl)
                  + config.adv_weight * (adversarial + config.fm_weight * matching))
        _step([optimizers["generator"], optimizers["encoder"]], g_loss, [G, E], grad_clip)
        figures = {"critic": d_loss, "adversarial": adversarial, "matching": matching, "reconstruction": rec,
                   "kl": kl}
        figures = {k: float(v.detach()) for k, v in figures.items()}
        return figures["critic"], figures

    @torch.no_grad()
    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, ...],
             device: torch.device) -> tuple[torch.Tensor, dict[str, float]]:
        """The validation figure: how far the statistics of variations of real bars (their
        encoded latents plus noise 0.5, after the real bar before, thresholded) lie from
        the real bars', as a mean relative gap (0 is a perfect match)."""
        bar, prev, length = (b.to(device) for b in batch)
        config = model.config
        noise = torch.Generator(device=device.type).manual_seed(0)
        centre = model.encoder(bar, prev, length)[:, : config.latent]
        z = centre + VALIDATION_NOISE * torch.randn(centre.shape, generator=noise, device=device)
        made = draw(model, config, z, prev, length, config.threshold, voices=config.voices or None,
                    generator=torch.Generator(device=device.type).manual_seed(0))
        real, made = bar_statistics(bar.bool(), length), bar_statistics(made, length)
        floors = {"empty": 0.05}
        gap = float(np.mean([abs(made[k] - real[k]) / max(real[k], floors.get(k, 1e-3)) for k in real]))
        return torch.tensor(gap), {"gap": gap, **{f"real_{k}": v for k, v in real.items()},
                                   **{f"made_{k}": v for k, v in made.items()}}

    def generate(self, model: nn.Module, config: GanConfig, seed: Score | None, params: SampleParams,
                 device: torch.device) -> list[Score]:
        return sample_variations(self, model, config, seed, params, device)

    def sample_constrained(self, model: nn.Module, config: GanConfig, plan: Plan, params: SampleParams,
                           device: torch.device) -> list[list[Note]]:
        """New notes around the plan's fixed notes: bar by bar, each bar's latent inverted with the
        fixed notes' roll rows held (``gan_constraints``)."""
        from .gan_constraints import sample_constrained

        return sample_constrained(model, config, plan, params, device)


def _as_critic_sees(probs: torch.Tensor, how: str) -> torch.Tensor:
    """Generated bars as the critic sees them: the probabilities, or bars drawn from them
    (Bernoulli) or thresholded at 0.5, with straight-through gradients."""
    if how == "probabilities":
        return probs
    hard = torch.bernoulli(probs.detach()) if how == "sampled" else (probs > 0.5).float()
    hard[:, 1] *= hard[:, 0]  # an onset only where the pitch sounds
    return probs + (hard - probs).detach()


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return nn.functional.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def _step(optimizers: list[torch.optim.Optimizer], loss: torch.Tensor, nets: list[nn.Module], grad_clip: float) -> None:
    """Backpropagate ``loss``, clip each net's gradient, step."""
    for optimizer in optimizers:
        optimizer.zero_grad(set_to_none=True)
    loss.backward()
    for net in nets:
        torch.nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
    for optimizer in optimizers:
        optimizer.step()
