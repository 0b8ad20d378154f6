"""The RNN writing around fixed notes (harmonize, lock): their tokens are forced while it samples.

The event encoding lists each step's notes from the highest down, so fixed notes
can be held in place token by token: at every step the sampler must emit each
fixed pitch (as an ONSET or HOLD) in its place in the falling order, and may add
new notes only between them, below the plan's ceiling, within the voices' ranges,
and only in free steps. Harmonizing is the case where the one fixed note of a step
is the melody, above everything else: the melody is then the first token of every
step and the voices are sampled under it. A stretch of fixed steps at the start
("regenerate from bar k") is read in one pass, as a seed is.

A model that reads left to right cannot see the fixed notes ahead of it, so when
sampling, a batch of particles is drawn and weighed by the probability the model
gives to what it was made to play (see :func:`sample_tokens`): harmonies that lead
badly into the melody's next notes, or into a locked bar, die out.

With ``repeat_onsets`` off (frame data such as JSB), a pitch sounding in the step
before can only be held, so a fixed pitch is spelled as the model can read it;
the results keep the notes as given (see ``constraints.assemble``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from ..constraints import Plan, grid_view, step_view, to_grid, voice_floors
from ..sampling import SampleParams, locked_scale, sample_logits
from ..score import Note
from .base import home_key_shift, tonic_shift
from .events import BOS, FIRST_PITCH_TOKEN, PAD, STEP
from .rnn import RnnConfig, _StepMasker, bar_positions, home_shift

# Mean concert pitch of music21's 348 four-part Bach chorales, all voices (computed from the corpus).
CHORALE_REGISTER = 61.4
PARTICLES_PER_TAKE, MIN_PARTICLES = 4, 16  # sequences sampled at once when sampling (see sample_tokens)


def placement_shift(plan: Plan, config: RnnConfig) -> int:
    """Semitones that move the plan's music into the model's home (key, register)."""
    reference = plan.reference if plan.reference is not None else plan.frame
    if not plan.concert:
        return home_shift(reference, config)
    if not config.key_normalized:
        key = 0
    else:
        key = tonic_shift(plan.key.tonic) if plan.key is not None else home_key_shift(reference)
    octaves = 12 * round((config.register - CHORALE_REGISTER) / 12) if config.register else 0
    return key + octaves


class _Requirements:
    """The fixed notes per model step, as pitch indices from the highest down (``-1`` pads)."""

    def __init__(self, view: list[Note], n_steps: int, shift: int, config: RnnConfig) -> None:
        codec = config.codec
        per_step: list[dict[int, bool]] = [{} for _ in range(n_steps)]  # pitch index -> onset here
        for n in view:
            pitch = n.pitch + shift
            if not codec.in_range(pitch):
                continue
            for t in range(n.start, min(n.end, n_steps)):
                index = pitch - codec.lowest
                per_step[t][index] = per_step[t].get(index, False) or t == n.start
        width = max((len(s) for s in per_step), default=0) + 1
        self.pitch = np.full((n_steps, width), -1, dtype=np.int64)
        self.onset = np.zeros((n_steps, width), dtype=bool)
        for t, step in enumerate(per_step):
            for k, index in enumerate(sorted(step, reverse=True)):
                self.pitch[t, k], self.onset[t, k] = index, step[index]
        self.sets = [set(s) for s in per_step]


def _spell(index: int, onset: bool, before: set[int], P: int, repeat_onsets: bool) -> int:
    """The token of a fixed pitch: a HOLD when the pitch sounded the step before (and, where
    repeated notes can be told apart, when the note does not start here), else an ONSET."""
    hold = index in before and (not repeat_onsets or not onset)
    return FIRST_PITCH_TOKEN + index + (P if hold else 0)


@dataclass(frozen=True, eq=False)
class Layout:
    """A plan on the model's grid and in its pitch space."""

    n_steps: int  # model steps covering the piece
    shift: int  # semitones from the music to the model's home
    bar: int  # model steps per bar
    need: _Requirements  # the fixed notes of every step
    free: np.ndarray  # (n_steps,) bool: new notes may sound
    ceiling: np.ndarray  # (n_steps,) pitch index new notes stay under (0: none)
    first: int  # the first step where new notes may sound; the steps before are read as a seed
    voices: np.ndarray  # (n_steps,) new notes each step must have where there is room (0: as the model likes)
    low: np.ndarray  # (n_steps, V + 1) lowest pitch index of the k-th new note, leaving room below it
    high: np.ndarray  # (n_steps, V + 1) highest pitch index of the k-th new note


def layout(plan: Plan, config: RnnConfig) -> Layout:
    """The plan as the model sees it (see ``constraints.grid_view`` for a coarser grid)."""
    m, u, P = config.steps_per_beat, plan.frame.steps_per_beat, config.n_pitches
    n_steps = -(-plan.length * m // u)
    shift = placement_shift(plan, config)
    bar = replace(plan.frame, notes=()).resample(m).steps_per_bar
    need = _Requirements(grid_view(plan.pitched_fixed(), u, m, n_steps), n_steps, shift, config)
    free = step_view(plan.free.astype(np.int64), u, m, n_steps, "start").astype(bool)
    ceiling = step_view(plan.ceiling.astype(np.int64), u, m, n_steps, "ceiling")
    ceiling = np.where(ceiling == 0, 0, np.clip(ceiling + shift - config.lowest, 0, P))
    open_steps = free & (ceiling > 0)
    first = int(np.argmax(open_steps)) if open_steps.any() else n_steps
    n_voices = len(plan.voices)
    voices = np.zeros(n_steps, dtype=np.int64)
    low = np.full((n_steps, n_voices + 1), P, dtype=np.int64)
    high = np.full((n_steps, n_voices + 1), -1, dtype=np.int64)
    if n_voices:
        busy = np.zeros((plan.length, n_voices), dtype=bool) if plan.busy is None else plan.busy
        busy = np.stack([step_view(busy[:, k].astype(np.int64), u, m, n_steps, "start") for k in range(n_voices)],
                        axis=1).astype(bool)
        for t in range(n_steps):
            ranges = [r for r, b in zip(plan.voices, busy[t], strict=True) if not b]
            voices[t] = len(ranges)
            for k, (floor, (_, top)) in enumerate(zip(voice_floors(ranges), ranges, strict=True)):
                low[t, k] = min(max(floor + shift - config.lowest, 0), P)
                high[t, k] = min(max(top + shift - config.lowest, -1), P - 1)
    return Layout(n_steps, shift, bar, need, free, ceiling, first, voices, low, high)


@torch.inference_mode()
def sample_constrained(network: nn.Module, config: RnnConfig, plan: Plan, params: SampleParams,
                       device: torch.device) -> list[list[Note]]:
    """``params.n_variations`` sets of new notes around the plan's fixed notes, as one batch.

    Returns notes on the plan's grid and in its pitch (track 0; ``assemble`` places them).
    """
    tokens, forced, where = sample_tokens(network, config, plan, params, device)
    results = []
    for row, fixed_row in zip(tokens, forced, strict=True):
        new = row[(row != PAD) & ~fixed_row]
        notes = [replace(n, pitch=n.pitch - where.shift) for n in config.codec.decode(new, start_step=where.first)]
        results.append(to_grid([n for n in notes if 0 <= n.pitch < 128], config.steps_per_beat,
                               plan.frame.steps_per_beat))
    return results


def _opening(where: Layout, config: RnnConfig) -> tuple[list[int], list[int]]:
    """Tokens and bar positions of the fixed steps before the first free one, with the BOS."""
    tokens, steps, before = [BOS], [0], set()
    need = where.need
    for t in range(where.first):
        for k in range(int((need.pitch[t] >= 0).sum())):
            tokens.append(_spell(int(need.pitch[t, k]), bool(need.onset[t, k]), before, config.n_pitches,
                                 config.repeat_onsets))
            steps.append(t)
        tokens.append(STEP)
        steps.append(t)
        before = need.sets[t]
    return tokens, [int(bar_positions(t, where.bar, config.steps_per_bar)) for t in steps]


def particles_for(params: SampleParams) -> int:
    """Sequences sampled at once: :data:`PARTICLES_PER_TAKE` per take (at least
    :data:`MIN_PARTICLES`) when sampling, one per take at temperature 0."""
    if params.temperature <= 1e-6:
        return params.n_variations
    return max(MIN_PARTICLES, PARTICLES_PER_TAKE * params.n_variations)


@torch.inference_mode()
def sample_tokens(network: nn.Module, config: RnnConfig, plan: Plan, params: SampleParams,
                  device: torch.device) -> tuple[np.ndarray, np.ndarray, Layout]:
    """The sampled tokens after the fixed opening ``(n_variations, N)`` (PAD where a sequence
    waited for the others to end a step), which of them were forced, and the layout.

    All sequences move through the steps together. When sampling (temperature above
    0) they are particles of a particle filter: each carries the probability the
    model gives to what the plan imposed on it (the fixed notes' tokens, and the
    share of the model's choices that the voices' ranges and ceilings allowed), and
    at the end of a step, when these weights have grown too uneven, the sequences are
    drawn again in proportion to them. A harmony that makes the melody's next notes
    unlikely is dropped for one that makes them likely, so the voices are drawn from
    the model's own idea of what goes under the whole melody, as far as it has got,
    and not only under the notes so far. The takes returned are distinct particles
    drawn by their final weights.
    """
    codec, P = config.codec, config.n_pitches
    where = layout(plan, config)
    need, first, n_steps, shift = where.need, where.first, where.n_steps, where.shift
    tokens, positions = _opening(where, config)
    batch, smc = particles_for(params), params.temperature > 1e-6
    generator = torch.Generator(device=device.type).manual_seed(params.random_seed)
    network.eval()
    as_tensor = lambda a, dtype=torch.long: torch.as_tensor(np.asarray(a), dtype=dtype, device=device)  # noqa: E731
    logits, state = network(as_tensor(tokens)[None], as_tensor(positions)[None])
    last = logits[:, -1].expand(batch, -1).contiguous()
    state = tuple(s.expand(-1, batch, -1).contiguous() for s in state)
    if params.key_lock == "auto" and plan.key is not None:
        scale = plan.key.scale
    else:
        scale = locked_scale(params, plan.reference if plan.reference is not None else plan.frame)
    if scale is not None:
        scale = frozenset((pc + shift) % 12 for pc in scale)
    masker = _StepMasker(codec, batch, device, scale, params.max_polyphony, config.repeat_onsets)
    if first > 0:
        masker.previous[:, sorted(need.sets[first - 1])] = True

    need_pitch, need_onset = as_tensor(need.pitch), as_tensor(need.onset, torch.bool)
    width = need_pitch.shape[1]
    voice_low, voice_high = as_tensor(where.low), as_tensor(where.high)
    pitch_index = torch.arange(P, device=device)
    rows = torch.arange(batch, device=device)
    k_fixed = torch.zeros(batch, dtype=torch.long, device=device)  # fixed notes emitted in this step
    k_free = torch.zeros(batch, dtype=torch.long, device=device)  # new notes in this step
    waiting = torch.zeros(batch, dtype=torch.bool, device=device)  # ended this step, waiting for the others
    log_weight = torch.zeros(batch, dtype=torch.float64, device=device)
    out, forced, draws = [], [], []  # draws: (tokens so far, each particle's ancestor)
    for t in range(first, n_steps):
        position = torch.full((batch,), int(bar_positions(t, where.bar, config.steps_per_bar)), device=device)
        free, ceiling = bool(where.free[t]), int(where.ceiling[t])
        n_voices, low, high = int(where.voices[t]), voice_low[t], voice_high[t]
        room = free and n_voices > 0 and ceiling > int(low[0])
        while not bool(waiting.all()):
            slot = k_fixed.clamp(max=width - 1)
            r = need_pitch[t, slot]  # the next fixed pitch of the step, -1: none left
            has_fixed = r >= 0
            may = (pitch_index[None, :] > r[:, None]) & (pitch_index[None, :] < ceiling) & free
            step_ok = ~has_fixed
            if plan.voices:  # the k-th new note in the k-th open voice's range; none past the last
                k = k_free.clamp(max=n_voices)
                may &= (pitch_index[None, :] >= low[k][:, None]) & (pitch_index[None, :] <= high[k][:, None])
                if room:
                    step_ok &= k_free >= n_voices
            model_allowed = masker.allowed()  # falling order, holds, key lock, polyphony
            r_safe = r.clamp(min=0)
            sounded = masker.previous[rows, r_safe]
            hold = sounded & ~need_onset[t, slot] if config.repeat_onsets else sounded
            fixed_tok = FIRST_PITCH_TOKEN + r_safe + P * hold.long()
            model_allowed[rows[has_fixed], fixed_tok[has_fixed]] = True
            allowed = model_allowed.clone()
            allowed[:, FIRST_PITCH_TOKEN:] &= may.repeat(1, 2)
            allowed[:, STEP] = step_ok
            allowed[rows[has_fixed], fixed_tok[has_fixed]] = True
            allowed[~allowed.any(dim=1), STEP] = True  # never a dead end (e.g. a key lock leaves no pitch in range)
            if smc:  # the model's probability of what the plan allowed here
                logp = torch.log_softmax(last.float().masked_fill(~model_allowed, float("-inf")) / params.temperature,
                                         dim=-1)
                kept = torch.logsumexp(logp.masked_fill(~allowed, float("-inf")), dim=-1)
                log_weight += torch.where(waiting, 0.0, kept.double())
            tok = sample_logits(last.masked_fill(~allowed, float("-inf")), params.temperature, params.top_p, generator)
            tok = torch.where(waiting, PAD, tok)
            is_fixed = has_fixed & (tok == fixed_tok) & ~waiting
            masker.update(tok)
            out.append(tok)
            forced.append(is_fixed)
            k_fixed += is_fixed.long()
            k_free += ((tok >= FIRST_PITCH_TOKEN) & ~is_fixed).long()
            new_last, new_state = network.step(tok, position, state)
            if bool(waiting.any()):  # those rows stay where they were
                keep = waiting[:, None]
                new_last = torch.where(keep, last, new_last)
                new_state = tuple(torch.where(keep[None], old, new) for old, new in zip(state, new_state, strict=True))
            last, state = new_last, new_state
            waiting |= tok == STEP
        waiting[:], k_fixed[:], k_free[:] = False, 0, 0
        if smc and t + 1 < n_steps and _uneven(log_weight):
            ancestors = _systematic(log_weight, generator)
            draws.append((len(out), ancestors))
            last, state = last[ancestors], tuple(s[:, ancestors] for s in state)
            for name in ("last", "count", "previous", "current"):
                setattr(masker, name, getattr(masker, name)[ancestors])
            log_weight = torch.zeros_like(log_weight)
    if not out:
        empty = np.zeros((params.n_variations, 0), dtype=np.int64)
        return empty, empty.astype(bool), where
    everyone = torch.arange(batch, device=device)
    sampled, was_forced = _trace(torch.stack(out, 1), everyone, draws), _trace(torch.stack(forced, 1), everyone, draws)
    chosen = _pick(sampled, log_weight, params.n_variations, generator) if smc else list(range(batch))
    return sampled[chosen], was_forced[chosen], where


def _uneven(log_weight: torch.Tensor) -> bool:
    """Whether the effective number of particles has fallen below half of them."""
    w = torch.softmax(log_weight, dim=0)
    return float(1.0 / (w * w).sum()) < len(w) / 2


def _systematic(log_weight: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Systematic resampling: each particle's ancestor, drawn in proportion to the weights."""
    n = len(log_weight)
    cumulative = torch.softmax(log_weight, dim=0).cumsum(0)
    u = (torch.rand(1, generator=generator, device=log_weight.device, dtype=torch.float64)
         + torch.arange(n, device=log_weight.device)) / n
    return torch.searchsorted(cumulative, u).clamp(max=n - 1)


def _pick(sampled: np.ndarray, log_weight: torch.Tensor, n: int, generator: torch.Generator) -> list[int]:
    """``n`` particles drawn by weight without replacement (Gumbel top-k), distinct ones first."""
    u = torch.rand(len(log_weight), generator=generator, device=log_weight.device, dtype=torch.float64)
    order = torch.argsort(log_weight - torch.log(-torch.log(u.clamp(min=1e-300))), descending=True).tolist()
    seen, distinct, repeats = set(), [], []
    for i in order:
        key = sampled[i].tobytes()
        (repeats if key in seen else distinct).append(i)
        seen.add(key)
    return (distinct + repeats)[:n]


def _trace(history: torch.Tensor, chosen: torch.Tensor, draws: list[tuple[int, torch.Tensor]]) -> np.ndarray:
    """The rows ``chosen`` of a particle history ``(B, N)``, followed back through the redraws."""
    out = torch.empty((len(chosen), history.shape[1]), dtype=history.dtype, device=history.device)
    rows, end = chosen, history.shape[1]
    for start, ancestors in reversed(draws):
        out[:, start:end] = history[rows, start:end]
        rows, end = ancestors[rows], start
    out[:, :end] = history[rows, :end]
    return out.cpu().numpy()
