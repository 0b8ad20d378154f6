"""The GAN writing around fixed notes (harmonize, lock): inversion with the fixed notes' rows held.

The GAN writes a piece bar by bar (segment by segment, see ``gan_rolls``), each bar
drawn from a latent ``z`` after the bar before it. To write around fixed notes it
goes through the piece in order, and for each bar with room for new notes:

1. the latent starts at the encoder's inversion of the bar as it stands (the
   melody's or the take's notes, after the bar assembled before it), plus
   ``noise`` times a Gaussian, one per variation (the variations are one batch);
2. a few dozen Adam steps move ``z`` until the generator's bar reproduces what the
   plan fixes: the fixed notes' piano-roll cells sound (and start where they
   start), and cells known to be silent (above the melody, in kept bars) stay
   silent, with a small pull back to where ``z`` started;
3. the generator's probabilities become new notes, only in free steps, under the
   ceiling and off the fixed notes' pitches: by threshold, key lock and polyphony
   limit as in ``gan_sample.binarize``; or, with voices, exactly one pitch per open
   voice at every step, from the top voice down, each the likeliest sounding pitch
   in its range and below the voice above; a voice keeps its pitch until the
   onset channel marks a new note;
4. the bar as assembled (fixed and new notes) is what the next bar follows on from.

The music is first moved by octaves into the model's pitch window (as a seed is)
and seen on the model's grid (``constraints.grid_view``). Notes are chosen on the
coarser of the model's grid and the plan's (the model's probabilities averaged
over a plan step when its grid is finer) and go back to the plan's grid and pitch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from ..constraints import Plan, grid_factors, grid_view, step_view, to_grid, voice_floors
from ..sampling import SampleParams, locked_scale
from ..score import N_PITCHES, Note
from .base import home_key_shift
from .gan_rolls import octave_shift_for, rolls_to_notes, segment_steps

if TYPE_CHECKING:
    from .gan import GanConfig

REFINE_STEPS = 30  # Adam steps on the latent, per bar
REFINE_LR = 0.05  # their learning rate
PULL = 0.01  # weight of the squared distance of z from where it started (per latent dimension, summed)
OUTSIDE = -1.0  # a voice's score for a pitch outside the model's window: taken only when nothing inside fits
OFF_KEY = -4.0  # added to the score of a pitch the key lock leaves out: taken only when nothing in key fits


@dataclass(frozen=True, eq=False)
class GanLayout:
    """A plan as the GAN sees it: rolls on the model's grid, the rest on the grid notes are chosen on."""

    lowest: int  # the music's pitch on the roll's lowest row (the model's lowest, moved back)
    seg: int  # model steps per segment (bar)
    spb: int  # steps per beat of the grid notes are chosen on: the coarser of the model's and the plan's
    fixed: np.ndarray  # (2, T, P) bool: the fixed notes the model hears, sounding and onset, on its grid
    frame: np.ndarray  # (2, T, P) bool: the music as it stands (what the latents start from)
    known: np.ndarray  # (T, P) bool: cells whose sounding is known (as in ``fixed``): kept steps, above the ceiling
    pool: np.ndarray  # (N, T): how much of each chosen-grid step each model step makes up
    owner: np.ndarray  # (T,) the chosen-grid step holding each model step (-1 past the piece)
    opens: np.ndarray  # (T,) bool: the model step starts its chosen-grid step
    free: np.ndarray  # (N,) bool: new notes may sound
    ceiling: np.ndarray  # (N,) new notes lie below this pitch (0: none)
    taken: np.ndarray  # (N, 128) bool: a fixed note sounds on this pitch in the step
    busy: np.ndarray  # (N, V) bool: the voice holds a fixed note, so it gets no new one

    @property
    def n_segments(self) -> int:
        return self.fixed.shape[1] // self.seg


def placement_shift(plan: Plan, config: GanConfig) -> int:
    """Semitones that move the plan's music into the model's pitch window (and, for a
    key-normalized model, to C major or C minor first, as a seed).

    The reference's notes decide, as a seed's do; for a choir in concert pitch the
    voices' ranges count too, so that the voices to write fit as well as the melody.
    """
    reference = plan.reference if plan.reference is not None else plan.frame
    pitches = [n.pitch for n in reference.notes if not reference.tracks[n.track].is_drum]
    if plan.concert:
        pitches += [p for voice in plan.voices for p in voice]
    key = home_key_shift(reference) if config.key_normalized else 0  # a key-normalized model: the music in C
    return key + octave_shift_for([p + key for p in pitches], config.lowest, config.n_pitches)


def _roll(notes: list[Note], n_steps: int, lowest: int, n_pitches: int) -> np.ndarray:
    """Notes as a ``(2, n_steps, P)`` bool roll from pitch ``lowest`` up (others left out)."""
    roll = np.zeros((2, n_steps, n_pitches), dtype=bool)
    for n in notes:
        if 0 <= n.pitch - lowest < n_pitches and n.start < n_steps:
            roll[0, n.start:n.end, n.pitch - lowest] = True
            roll[1, n.start, n.pitch - lowest] = True
    return roll


def layout(plan: Plan, config: GanConfig) -> GanLayout:
    """The plan on the model's grid and in its window, and on the grid notes are chosen on."""
    u, m = plan.frame.steps_per_beat, config.steps_per_beat
    g = min(u, m)
    seg = segment_steps(replace(plan.frame, notes=()).resample(m).steps_per_bar, config.bar_steps)
    piece = -(-plan.length * m // u)  # model steps holding the piece
    n_model, n_pick = -(-piece // seg) * seg, -(-plan.length * g // u)
    lowest = config.lowest - placement_shift(plan, config)
    fixed, frame, known = _model_view(plan, config, lowest, piece, n_model)
    pool, owner, opens = _grid_maps(m, g, n_model, n_pick)
    free, ceiling, taken, busy = _chosen_view(plan, g, n_pick)
    return GanLayout(lowest, seg, g, fixed, frame, known, pool, owner, opens, free, ceiling, taken, busy)


def _model_view(plan: Plan, config: GanConfig, lowest: int, piece: int,
                n_model: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fixed notes' roll, the music's roll and the known cells on the model's grid (see :class:`GanLayout`)."""
    u, m, P = plan.frame.steps_per_beat, config.steps_per_beat, config.n_pitches
    pitched = [n for n in plan.frame.notes if not plan.frame.tracks[n.track].is_drum]
    fixed = _roll(grid_view(plan.pitched_fixed(), u, m, n_model), n_model, lowest, P)
    frame = _roll(grid_view(pitched, u, m, n_model), n_model, lowest, P)
    free = step_view(plan.free.astype(np.int64), u, m, n_model, "start").astype(bool)
    free[piece:] = False
    ceiling = step_view(plan.ceiling.astype(np.int64), u, m, n_model, "ceiling")
    known = ~free[:, None] | (lowest + np.arange(P)[None, :] >= ceiling[:, None]) | fixed[0]
    return fixed, frame, known


def _grid_maps(m: int, g: int, n_model: int, n_pick: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """From the model's grid (``m`` steps per beat) to the chosen one (``g``): ``pool``, ``owner``, ``opens``."""
    up, ratio = grid_factors(m, g)  # a model step is `up` fine steps, a chosen-grid step `ratio`
    pool = np.zeros((n_pick, n_model))
    for i in range(n_pick):
        begin, end = i * ratio, (i + 1) * ratio
        for j in range(begin // up, min(n_model, -(-end // up))):
            pool[i, j] = (min(end, (j + 1) * up) - max(begin, j * up)) / ratio
    owner = np.arange(n_model) * up // ratio
    owner[owner >= n_pick] = -1
    return pool, owner, np.arange(n_model) * up % ratio == 0


def _chosen_view(plan: Plan, g: int, n_pick: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Free steps, ceiling, pitches taken by fixed notes and busy voices on the chosen grid (``g``)."""
    u = plan.frame.steps_per_beat
    free = step_view(plan.free.astype(np.int64), u, g, n_pick, "start").astype(bool)
    ceiling = step_view(plan.ceiling.astype(np.int64), u, g, n_pick, "ceiling")
    up, ratio = grid_factors(u, g)
    taken = np.zeros((n_pick, N_PITCHES), dtype=bool)
    for n in plan.fixed:
        if not plan.frame.tracks[n.track].is_drum:
            taken[n.start * up // ratio: -(-n.end * up // ratio), n.pitch] = True
    busy = np.zeros((n_pick, len(plan.voices)), dtype=bool)
    if plan.busy is not None:
        for k in range(len(plan.voices)):
            busy[:, k] = step_view(plan.busy[:, k].astype(np.int64), u, g, n_pick, "start")
    return free, ceiling, taken, busy


def _to_pitches(rows: np.ndarray, lowest: int, fill: float) -> np.ndarray:
    """``(..., P)`` values of roll rows -> ``(..., 128)`` values of MIDI pitches (``fill`` outside the window)."""
    out = np.full((*rows.shape[:-1], N_PITCHES), fill, dtype=rows.dtype)
    first, last = max(lowest, 0), min(lowest + rows.shape[-1], N_PITCHES)
    if first < last:
        out[..., first:last] = rows[..., first - lowest:last - lowest]
    return out


def _to_rows(pitches: np.ndarray, lowest: int, n_pitches: int) -> np.ndarray:
    """The inverse of :func:`_to_pitches`: ``(..., 128)`` -> ``(..., P)`` (zero outside MIDI's range)."""
    out = np.zeros((*pitches.shape[:-1], n_pitches), dtype=pitches.dtype)
    first, last = max(lowest, 0), min(lowest + n_pitches, N_PITCHES)
    if first < last:
        out[..., first - lowest:last - lowest] = pitches[..., first:last]
    return out


@torch.no_grad()
def sample_constrained(model: nn.Module, config: GanConfig, plan: Plan, params: SampleParams,
                       device: torch.device) -> list[list[Note]]:
    """``params.n_variations`` sets of new notes around the plan's fixed notes, as one batch.

    Returns notes on the plan's grid and in its pitch (track 0; ``constraints.assemble`` places them).
    """
    where = layout(plan, config)
    B, seg = params.n_variations, where.seg
    threshold = config.threshold if params.threshold is None else params.threshold
    generator = torch.Generator(device=device.type).manual_seed(params.random_seed)
    eps = torch.randn(B, where.n_segments, config.latent, generator=generator, device=device)
    if plan.voices:
        choose: _Voices | _Chords = _Voices(plan, where, params, threshold, B)
    else:
        choose = _Chords(plan, where, params, config, threshold)
    new = np.zeros((B, 2, len(where.free), N_PITCHES), dtype=bool)  # new notes, chosen grid, MIDI pitch
    prev = torch.zeros(B, 2, config.bar_steps, config.n_pitches, device=device)
    length = torch.full((B,), seg, device=device)
    model.eval()
    for s in range(where.n_segments):
        cols = slice(s * seg, (s + 1) * seg)
        starting = where.opens[cols] & (where.owner[cols] >= 0)
        picks = where.owner[cols][starting]  # the chosen-grid steps that start in this bar
        if len(picks) and (where.free[picks] & (where.ceiling[picks] > 0)).any():
            probs = _bar(model, config, where, cols, prev, length, params.noise * eps[:, s])  # (B, 2, seg, P)
            pool = where.pool[picks][:, cols]
            pool = pool / np.maximum(pool.sum(axis=1, keepdims=True), 1e-9)
            sounding = np.einsum("nt,btp->bnp", pool, probs[:, 0])  # (B, n, P)
            onset = probs[:, 1, np.flatnonzero(starting)]  # a note starts on the step's first model step
            new[:, :, picks] = choose(picks, _to_pitches(sounding, where.lowest, np.nan),
                                      _to_pitches(onset, where.lowest, 0.0))
        prev = _canvas(_on_model_grid(new, where, cols) | where.fixed[None, :, cols], config.bar_steps, device)
    return [to_grid(rolls_to_notes(roll, lowest=0), where.spb, plan.frame.steps_per_beat) for roll in new]


def _canvas(bars: np.ndarray, steps: int, device: torch.device) -> torch.Tensor:
    """``(..., seg, P)`` -> a float tensor ``(..., steps, P)``, the canvas's end left silent."""
    pad = [(0, 0)] * (bars.ndim - 2) + [(0, steps - bars.shape[-2]), (0, 0)]
    return torch.as_tensor(np.pad(bars, pad), dtype=torch.float32, device=device)


def _bar(model: nn.Module, config: GanConfig, where: GanLayout, cols: slice, prev: torch.Tensor,
         length: torch.Tensor, noise: torch.Tensor) -> np.ndarray:
    """The generator's probabilities ``(B, 2, seg, P)`` for the model steps ``cols``, after ``prev``.

    The latents start at the encoder's inversion of the music there (the prior's mean
    where there is none), plus ``noise`` ``(B, Z)``, and are refined (:func:`refine`).
    """
    B, seg, S = len(prev), where.seg, config.bar_steps
    music = _canvas(where.frame[:, cols], S, prev.device)[None].expand(B, -1, -1, -1)
    if bool(music.any()):
        start = model.encoder(music, prev, length)[:, : config.latent]
    else:
        start = torch.zeros(B, config.latent, device=prev.device)
    z = refine(model.generator, start + noise, prev, length, _canvas(where.fixed[:, cols], S, prev.device)[None],
               _canvas(where.known[cols], S, prev.device) > 0)
    return model.generator.probabilities(z, prev, length)[:, :, :seg].cpu().numpy()


def _on_model_grid(new: np.ndarray, where: GanLayout, cols: slice) -> np.ndarray:
    """The new notes ``(B, 2, N, 128)`` of the model steps ``cols`` as ``(B, 2, seg, P)`` roll rows."""
    owner, opens = where.owner[cols], where.opens[cols]
    out = new[:, :, owner.clip(min=0)] & (owner >= 0)[None, None, :, None]
    out[:, 1] &= opens[None, :, None]  # a note starts on the first model step of its chosen-grid step
    return _to_rows(out, where.lowest, where.fixed.shape[-1])


def _masked_bce(probs: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per bar ``(B,)``: the mean binary cross-entropy over the cells of ``mask`` (0 without any)."""
    loss = -(target * probs.log() + (1 - target) * (1 - probs).log())
    return (loss * mask).flatten(1).sum(1) / mask.flatten(1).sum(1).clamp(min=1)


def refine(net: nn.Module, z: torch.Tensor, prev: torch.Tensor, length: torch.Tensor, fixed: torch.Tensor,
           known: torch.Tensor) -> torch.Tensor:
    """Latents ``(B, Z)`` moved by Adam until the generator's bars reproduce the known cells.

    ``fixed`` ``(1, 2, S, P)`` holds the fixed notes (sounding, onset); ``known``
    ``(S, P)`` the cells whose sounding is known. The loss, per bar: cross-entropy
    of the sounding channel on the known sounding cells and, apart, on the known
    silent ones (so a one-note melody weighs as much as the silence above it), of
    the onset channel on the sounding ones, and :data:`PULL` times the squared
    distance from the start. Only ``z`` moves.
    """
    sounding = known[None] & (fixed[:, 0] > 0)
    silent = known[None] & (fixed[:, 0] == 0)
    if not bool(known.any()):
        return z
    start, moment, power = z.clone(), torch.zeros_like(z), torch.zeros_like(z)
    for step in range(1, REFINE_STEPS + 1):
        with torch.enable_grad():
            leaf = z.detach().requires_grad_(True)
            probs = net.probabilities(leaf, prev, length).clamp(1e-6, 1 - 1e-6)  # (B, 2, S, P)
            loss = (_masked_bce(probs[:, 0], fixed[:, 0], sounding) + _masked_bce(probs[:, 0], fixed[:, 0], silent)
                    + _masked_bce(probs[:, 1], fixed[:, 1], sounding) + PULL * (leaf - start).pow(2).sum(1))
            (grad,) = torch.autograd.grad(loss.sum(), [leaf])
        # Adam (betas 0.9, 0.999), written out: torch.optim would load its compiler for one tensor
        moment = 0.9 * moment + 0.1 * grad
        power = 0.999 * power + 0.001 * grad * grad
        z = z - REFINE_LR * (moment / (1 - 0.9**step)) / ((power / (1 - 0.999**step)).sqrt() + 1e-8)
    return z


def _scale(plan: Plan, params: SampleParams) -> frozenset[int] | None:
    """The pitch classes the key lock allows (the plan's own key when it knows it), or None."""
    if params.key_lock == "auto" and plan.key is not None:
        return plan.key.scale
    return locked_scale(params, plan.reference if plan.reference is not None else plan.frame)


def _in_key(plan: Plan, params: SampleParams) -> np.ndarray:
    """``(128,)`` bool: the pitches the key lock allows (all without a lock)."""
    scale = _scale(plan, params)
    return np.ones(N_PITCHES, dtype=bool) if scale is None else np.isin(np.arange(N_PITCHES) % 12, sorted(scale))


class _Chords:
    """New notes as ``gan_sample.binarize`` makes them: above the threshold, in key, at most the
    polyphony limit sounding at a step (fixed notes included, the likeliest new ones kept)."""

    def __init__(self, plan: Plan, where: GanLayout, params: SampleParams, config: GanConfig,
                 threshold: float) -> None:
        self.where, self.threshold, self.in_key = where, threshold, _in_key(plan, params)
        self.limit = min(v for v in (params.max_polyphony, config.voices or None, config.n_pitches) if v)

    def __call__(self, picks: np.ndarray, sounding: np.ndarray, onset: np.ndarray) -> np.ndarray:
        """Steps ``picks`` from probabilities ``(B, n, 128)`` (NaN outside the window) -> ``(B, 2, n, 128)``."""
        w = self.where
        pitch = np.arange(N_PITCHES)
        sounding = np.nan_to_num(sounding, nan=0.0)
        keep = ((sounding > self.threshold) & self.in_key & ~w.taken[picks][None]
                & w.free[picks][None, :, None] & (pitch[None, None, :] < w.ceiling[picks][None, :, None]))
        room = np.maximum(self.limit - w.taken[picks].sum(axis=1), 0)  # (n,)
        rank = np.argsort(np.argsort(-np.where(keep, sounding, -1.0), axis=-1, kind="stable"), axis=-1)
        keep &= rank < room[None, :, None]
        return np.stack([keep, keep & (onset > self.threshold)], axis=1)


class _Voices:
    """Exactly one new note per open voice wherever new notes may sound, from the top voice down.

    Each voice takes the pitch the generator most likely sounds in its range, below
    the voice above (the ceiling for the top one), above the room the voices under
    it need, off the fixed notes' pitches and in key (out of the window or key only
    when nothing else fits); it holds its pitch while that still fits and the onset
    channel marks no new note there.
    """

    def __init__(self, plan: Plan, where: GanLayout, params: SampleParams, threshold: float, batch: int) -> None:
        self.plan, self.where, self.threshold = plan, where, threshold
        self.in_key = _in_key(plan, params)
        self.last = np.full((batch, len(plan.voices)), -1)  # each voice's pitch at the step before (-1: none)
        pitch, top = np.arange(N_PITCHES), where.lowest + where.fixed.shape[-1] - 1
        self.distance = np.maximum(np.maximum(where.lowest - pitch, pitch - top), 0)  # semitones outside the window

    def __call__(self, picks: np.ndarray, sounding: np.ndarray, onset: np.ndarray) -> np.ndarray:
        """Steps ``picks`` from probabilities ``(B, n, 128)`` (NaN outside the window) -> ``(B, 2, n, 128)``."""
        score = np.where(np.isnan(sounding), OUTSIDE - self.distance / N_PITCHES, sounding)
        score = score + np.where(self.in_key, 0.0, OFF_KEY)
        out = np.zeros((len(score), 2, len(picks), N_PITCHES), dtype=bool)
        for i, t in enumerate(picks):
            for b in range(len(score)):
                for k, pitch, starts in self._step(int(t), score[b, i], onset[b, i], self.last[b]):
                    out[b, 0, i, pitch] = True
                    out[b, 1, i, pitch] = starts
                    self.last[b, k] = pitch
        return out

    def _step(self, t: int, score: np.ndarray, onset: np.ndarray, last: np.ndarray) -> list[tuple[int, int, bool]]:
        """``(voice, pitch, starts a note)`` of the open voices at step ``t``; the others fall silent."""
        w = self.where
        open_voices = [k for k in range(len(self.plan.voices)) if not w.busy[t, k]]
        silent = [k for k in range(len(last)) if k not in open_voices or not w.free[t] or w.ceiling[t] <= 0]
        last[silent] = -1
        if not w.free[t] or w.ceiling[t] <= 0:
            return []
        ranges = [self.plan.voices[k] for k in open_voices]
        chosen, above = [], int(w.ceiling[t])
        for k, floor, (_, top) in zip(open_voices, voice_floors(ranges), ranges, strict=True):
            fits = np.arange(floor, min(top, above - 1) + 1)
            fits = fits[(fits >= 0) & (fits < N_PITCHES)]
            fits = fits[~w.taken[t, fits]]
            if not len(fits):
                last[k] = -1
                continue
            best, held = int(fits[np.argmax(score[fits])]), int(last[k])
            if held in fits and onset[best] <= self.threshold:
                chosen.append((k, held, False))  # no new note marked: the voice holds
            else:
                chosen.append((k, best, best != held or onset[best] > self.threshold))
            above = chosen[-1][1]
        return chosen
