"""Generation with a GAN of bars: seed inversion, variations around it, rolls to notes.

The family's entry point is :func:`sample_variations` (``GanFamily.generate``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ..sampling import SampleParams, locked_scale
from ..score import Note, Score, ScoreError, Track
from .base import home_key_shift
from .gan_lines import decode_lines
from .gan_nets import steps_mask
from .gan_rolls import join_segments, octave_shift_into, rolls_to_notes

if TYPE_CHECKING:
    from .gan import GanConfig, GanFamily

def binarize(probs: torch.Tensor, threshold: float, allowed: torch.Tensor | None = None,
             max_polyphony: int | None = None) -> torch.Tensor:
    """Probabilities ``(B, 2, S, P)`` -> a bool bar: sounding above ``threshold`` (only in
    the ``allowed`` pitch rows ``(P,)``, at most ``max_polyphony`` at a step, the likeliest
    kept), onsets above ``threshold`` where a pitch sounds."""
    sounding = probs[:, 0]
    keep = sounding > threshold
    if allowed is not None:
        keep &= allowed
    if max_polyphony is not None and max_polyphony < sounding.shape[-1]:
        ranked = torch.where(keep, sounding, torch.full_like(sounding, -1.0))
        top = torch.zeros_like(keep).scatter_(-1, ranked.topk(max_polyphony, dim=-1).indices, True)
        keep &= top
    onset = (probs[:, 1] > threshold) & keep
    return torch.stack([keep, onset], dim=1)


def draw(model: nn.Module, config: GanConfig, z: torch.Tensor, prev: torch.Tensor, length: torch.Tensor,
         threshold: float, allowed: torch.Tensor | None = None, voices: int | None = None,
         params: SampleParams | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """The bars ``(B, 2, S, P)`` (bool) the generator writes from latents ``z`` ``(B, Z)`` after ``prev``.

    A merged roll is thresholded cell by cell (:func:`binarize`), lines voice by voice
    (``gan_lines.decode_lines``): a voice sings where its probability of singing
    exceeds the threshold, each new note's pitch drawn at ``params``' temperature
    times the model's own (``config.temperature``) and top-p, from ``generator``.
    """
    if config.parts:
        pitch, onset = model.generator.lines(z, prev, length)
        params = params or SampleParams()
        return decode_lines(pitch, onset, length, prev, allowed, voices, threshold,
                            params.temperature * config.temperature, params.top_p, generator,
                            model.generator.leading)
    return binarize(model.generator.probabilities(z, prev, length), threshold, allowed, voices)


def bar_statistics(bars: torch.Tensor, length: torch.Tensor) -> dict[str, float]:
    """Bar-level statistics of a batch of bool bars ``(B, 2, S, P)``, each using ``length`` steps.

    ``empty``: share of bars without a note; ``pitch_classes``: distinct pitch classes
    per bar; ``polyphony``: pitches sounding at once, over steps where any sounds;
    ``notes``: notes starting per step; ``note_length``: sounding steps per note.
    """
    mask = steps_mask(length, bars.shape[2])[:, 0].bool()  # (B, S, 1)
    sounding = bars[:, 0] & mask
    before = nn.functional.pad(sounding[:, :-1], (0, 0, 1, 0))
    starts = sounding & (~before | bars[:, 1])
    per_bar = sounding.any(dim=1)  # (B, P)
    pad = (-per_bar.shape[-1]) % 12
    classes = nn.functional.pad(per_bar, (0, pad)).view(len(bars), -1, 12).any(dim=1).sum(dim=1).float()
    voices = sounding.sum(dim=-1).float()  # (B, S)
    n_notes = float(starts.sum())
    return {"empty": float((~per_bar.any(dim=1)).float().mean()), "pitch_classes": float(classes.mean()),
            "polyphony": float(voices.sum() / max(1.0, float((voices > 0).sum()))),
            "notes": n_notes / max(1.0, float(length.sum())), "note_length": float(sounding.sum()) / max(1.0, n_notes)}


def invert(model: nn.Module, config: GanConfig, bars: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
    """Latents ``(N, Z)`` from which the generator redraws each of ``bars`` ``(N, 2, S, P)``
    after the bar before it: the means of the encoder's Gaussians, in one pass."""
    prev = torch.cat([torch.zeros_like(bars[:1]), bars[:-1]])
    return model.encoder(bars, prev, length)[:, : config.latent]


def sample_variations(family: GanFamily, model: nn.Module, config: GanConfig, seed: Score | None,
                      params: SampleParams, device: torch.device) -> list[Score]:
    """``params.n_variations`` Scores: the seed unchanged, then ``params.bars`` new bars each."""
    base = (seed or Score(bpm=100)).padded_to_bar()
    prepared = family.prepare(base, config)
    key = home_key_shift(prepared) if config.key_normalized else 0  # a key-normalized model: the seed in C
    try:
        shift = key + octave_shift_into(prepared.transpose(key), config.lowest, config.n_pitches)
        prepared = prepared.transpose(shift)
    except ScoreError:
        shift = 0
    segs, seg = family.segments(prepared, config)  # (N, 2, S, P): the seed's bars
    n_new = -(-params.bars * prepared.steps_per_bar // seg)
    batch, S, P = params.n_variations, config.bar_steps, config.n_pitches
    generator = torch.Generator(device=device.type).manual_seed(params.random_seed)
    eps = torch.randn(batch, n_new, config.latent, generator=generator, device=device)  # (B, n_new, Z)
    seed_bars = torch.from_numpy(segs.astype(np.float32)).to(device)  # (N, 2, S, P)
    allowed = _allowed_rows(params, seed, config, device, shift)
    threshold = config.threshold if params.threshold is None else params.threshold
    voices = min(v for v in (params.max_polyphony, config.voices or None, config.n_pitches) if v)
    lengths = torch.full((batch,), seg, device=device)
    bars = []
    with torch.no_grad():
        if len(segs):
            latents = invert(model, config, seed_bars, lengths[:1].expand(len(segs)))  # (N, Z)
            centre = latents[torch.arange(n_new, device=device) % len(segs)]  # the seed's bars, in order, round
            prev = seed_bars[-1:].expand(batch, -1, -1, -1)
        else:
            centre = torch.zeros(n_new, config.latent, device=device)
            prev = torch.zeros(batch, 2, S, P, device=device)
        z = centre[None] + params.noise * eps
        for j in range(n_new):
            prev = draw(model, config, z[:, j], prev, lengths, threshold, allowed, voices, params, generator).float()
            bars.append(prev)
    made = torch.stack(bars, dim=1).cpu().numpy().astype(bool)  # (B, n_new, 2, S, P)
    steps = params.bars * prepared.steps_per_bar
    return [_to_score(base, prepared, join_segments(v, seg)[:, :steps], config, shift) for v in made]


def _allowed_rows(params: SampleParams, seed: Score | None, config: Any, device: torch.device,
                 shift: int) -> torch.Tensor | None:
    """The pitch rows the key lock allows ``(P,)``, or None without a lock; the rows hold the seed's
    music moved by ``shift`` semitones."""
    scale = locked_scale(params, seed)
    if scale is None:
        return None
    classes = (torch.arange(config.n_pitches, device=device) + config.lowest - shift) % 12
    return torch.isin(classes, torch.tensor(sorted(scale), device=device))


def _to_score(base: Score, prepared: Score, rolls: np.ndarray, config: GanConfig, shift: int) -> Score:
    """The seed, unchanged, then the new bars (moved back to the seed's octave) on a track of their own."""
    ratio = base.steps_per_beat / config.steps_per_beat
    track = len(base.tracks)
    notes = [n for n in rolls_to_notes(rolls, config.lowest, start_step=prepared.length) if 0 <= n.pitch - shift < 128]
    new = [Note(round(n.start * ratio), n.pitch - shift, max(1, round(n.duration * ratio)), n.velocity, track)
           for n in notes]
    program = next((t.program for t in base.tracks if not t.is_drum), 0)
    length = base.length + round(rolls.shape[1] * ratio)
    return Score(notes=base.notes + tuple(new), tracks=(*base.tracks, Track("Variation", program)), bpm=base.bpm,
                 time_signature=base.time_signature, steps_per_beat=base.steps_per_beat, length=length)
