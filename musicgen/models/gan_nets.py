"""The GAN's networks: a generator of bars conditioned on the bar before, a critic, an encoder.

Shapes: a bar is ``(B, 2, S, P)`` (sounding and onset channels, ``S`` canvas steps,
``P`` pitches); the networks read it as a sequence of ``S`` steps with ``2P``
features (convolutions over time), as MidiNet does. ``length`` ``(B,)`` is how many
steps of the canvas the bar uses; the generator's output is silent beyond it.

- :class:`Conditioner` turns the previous bar into feature maps at three time
  resolutions (``S``, ``S/2``, ``S/4``) that the generator reads at each scale, so a
  new bar follows on from the one before (key, register, held notes).
- :class:`Generator`: latent ``z`` ``(B, Z)`` + previous bar + length -> bar probabilities
  (of a merged roll, or of ``parts`` voices' lines: ``gan_lines``).
- :class:`Critic`: a bar, its previous bar, the bar's pitch-class profile over time,
  and the length -> a realness logit and features (for feature matching).
- :class:`Encoder`: a bar + its previous bar + length -> the Gaussian of latents from
  which the generator redraws the bar, so a seed's bars become latents in one pass.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .gan_leading import VoiceLeading
from .gan_lines import line_probabilities


def _groups(channels: int) -> int:
    return 8 if channels % 8 == 0 else 1


def steps_mask(length: torch.Tensor, steps: int) -> torch.Tensor:
    """``(B, 1, S, 1)`` float mask: 1 for the steps a bar uses."""
    return (torch.arange(steps, device=length.device)[None, :] < length[:, None]).float()[:, None, :, None]


def _as_sequence(bar: torch.Tensor) -> torch.Tensor:
    """``(B, 2, S, P)`` -> ``(B, 2P, S)``: time is the convolution axis."""
    b, c, s, p = bar.shape
    return bar.permute(0, 1, 3, 2).reshape(b, c * p, s)


def chroma(bar: torch.Tensor) -> torch.Tensor:
    """``(B, 2, S, P)`` -> ``(B, 12, S)``: how much of each pitch class sounds at each step
    (pitch rows taken from the window's lowest pitch, so classes are relative to it)."""
    b, _, s, p = bar.shape
    pad = (-p) % 12
    sounding = nn.functional.pad(bar[:, 0], (0, pad))  # (B, S, P')
    return sounding.reshape(b, s, -1, 12).sum(dim=2).clamp(max=1.0).transpose(1, 2)


class Conditioner(nn.Module):
    """Previous bar -> feature maps ``(B, W, S)``, ``(B, W, S/2)``, ``(B, W, S/4)``."""

    def __init__(self, n_pitches: int, width: int) -> None:
        super().__init__()
        self.c0 = nn.Conv1d(2 * n_pitches, width, 1)
        self.c1 = nn.Conv1d(width, width, 4, stride=2, padding=1)
        self.c2 = nn.Conv1d(width, width, 4, stride=2, padding=1)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, prev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h0 = self.act(self.c0(_as_sequence(prev)))
        h1 = self.act(self.c1(h0))
        return h0, h1, self.act(self.c2(h1))


class Generator(nn.Module):
    """``z`` ``(B, Z)``, previous bar ``(B, 2, S, P)``, length ``(B,)`` -> a bar.

    Without ``parts``, logits ``(B, 2, S, P)`` of a merged roll (:meth:`forward`); with
    ``parts`` ``V``, lines (:meth:`lines`, see ``gan_lines``), with ``voice_leading`` drawn
    through a :class:`~.gan_leading.VoiceLeading` (``leading``). Use :meth:`probabilities`
    for the merged bar either way: sounding probabilities, and onset probabilities
    that never exceed them (a note starts only where it sounds).
    """

    def __init__(self, latent: int, n_pitches: int, steps: int, width: int, parts: int = 0,
                 voice_leading: bool = False) -> None:
        super().__init__()
        self.steps, self.n_pitches, self.width, self.parts = steps, n_pitches, width, parts
        self.leading = VoiceLeading(parts, n_pitches) if parts and voice_leading else None
        self.condition = Conditioner(n_pitches, width)
        self.length = nn.Embedding(steps + 1, latent)
        self.inp = nn.Linear(2 * latent, width * (steps // 4))
        self.up1 = nn.ConvTranspose1d(2 * width, width, 4, stride=2, padding=1)
        self.up2 = nn.ConvTranspose1d(2 * width, width, 4, stride=2, padding=1)
        self.out = nn.Conv1d(2 * width, parts * (n_pitches + 2) if parts else 2 * n_pitches, 1)
        self.n0, self.n1, self.n2 = (nn.GroupNorm(_groups(width), width) for _ in range(3))
        self.act = nn.ReLU()

    def _raw(self, z: torch.Tensor, prev: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
        """The output layer ``(B, C, S)``."""
        c0, c1, c2 = self.condition(prev)
        h = self.inp(torch.cat([z, self.length(length)], dim=1)).view(len(z), self.width, self.steps // 4)
        h = self.act(self.n0(h))  # (B, W, S/4)
        h = self.act(self.n1(self.up1(torch.cat([h, c2], dim=1))))  # (B, W, S/2)
        h = self.act(self.n2(self.up2(torch.cat([h, c1], dim=1))))  # (B, W, S)
        return self.out(torch.cat([h, c0], dim=1))

    def forward(self, z: torch.Tensor, prev: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
        """Merged-roll logits ``(B, 2, S, P)`` (a generator without parts)."""
        logits = self._raw(z, prev, length)  # (B, 2P, S)
        return logits.view(len(z), 2, self.n_pitches, self.steps).transpose(2, 3)

    def lines(self, z: torch.Tensor, prev: torch.Tensor, length: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """With parts: pitch logits ``(B, V, S, P + 1)`` (class 0 the rest), onset logits ``(B, V, S)``."""
        raw = self._raw(z, prev, length)  # (B, V(P+2), S)
        V, C = self.parts, self.n_pitches + 1
        pitch = raw[:, : V * C].view(len(z), V, C, self.steps).transpose(2, 3)
        return pitch, raw[:, V * C:]

    def probabilities(self, z: torch.Tensor, prev: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
        """The merged bar as probabilities ``(B, 2, S, P)``, zero beyond ``length``."""
        mask = steps_mask(length, self.steps)
        if self.parts:
            return line_probabilities(*self.lines(z, prev, length)) * mask
        logits = self(z, prev, length)
        sounding = torch.sigmoid(logits[:, :1])
        onset = torch.sigmoid(logits[:, 1:]) * sounding
        return torch.cat([sounding, onset], dim=1) * mask


class _BarReader(nn.Module):
    """A bar with its previous bar and its chroma -> a feature vector ``(B, 4W)``."""

    def __init__(self, n_pitches: int, steps: int, width: int, norm: Any) -> None:
        super().__init__()
        self.c0 = norm(nn.Conv1d(4 * n_pitches + 12, width, 1))
        self.c1 = norm(nn.Conv1d(width, width, 4, stride=2, padding=1))
        self.c2 = norm(nn.Conv1d(width, width, 4, stride=2, padding=1))
        self.act = nn.LeakyReLU(0.2)
        self.features = width * (steps // 4)

    def forward(self, bar: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        x = torch.cat([_as_sequence(bar), _as_sequence(prev), chroma(bar)], dim=1)  # (B, 4P+12, S)
        h = self.act(self.c2(self.act(self.c1(self.act(self.c0(x))))))  # (B, W, S/4)
        return h.flatten(1)


class Critic(nn.Module):
    """Bar, previous bar, length -> ``(score (B,), features (B, F))``; a projection on the length."""

    def __init__(self, n_pitches: int, steps: int, width: int) -> None:
        super().__init__()
        self.read = _BarReader(n_pitches, steps, width, lambda m: m)
        self.head = nn.Linear(self.read.features, 1)
        self.length = nn.Embedding(steps + 1, self.read.features)
        nn.init.zeros_(self.length.weight)

    def forward(self, bar: torch.Tensor, prev: torch.Tensor, length: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.read(bar, prev)
        score = self.head(features).squeeze(1) + (self.length(length) * features).sum(dim=1)
        return score, features


class Encoder(nn.Module):
    """Bar, previous bar, length -> the Gaussian (mean, log-variance) of the latents that redraw the bar."""

    def __init__(self, latent: int, n_pitches: int, steps: int, width: int) -> None:
        super().__init__()
        self.read = _BarReader(n_pitches, steps, width, lambda m: m)
        self.length = nn.Embedding(steps + 1, self.read.features)
        self.head = nn.Linear(self.read.features, 2 * latent)

    def forward(self, bar: torch.Tensor, prev: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
        """``(B, 2Z)``: the mean and the log-variance of the bar's latent."""
        return self.head(self.read(bar, prev) + self.length(length))


class GanModel(nn.Module):
    """The three networks, saved and loaded as one."""

    def __init__(self, latent: int, n_pitches: int, steps: int, width: int, parts: int = 0,
                 voice_leading: bool = False) -> None:
        super().__init__()
        self.generator = Generator(latent, n_pitches, steps, width, parts, voice_leading)
        self.critic = Critic(n_pitches, steps, width)
        self.encoder = Encoder(latent, n_pitches, steps, width)
