"""A GAN that writes lines: ``parts`` monophonic voices instead of a merged piano roll.

A merged roll thresholded cell by cell loses voices: a soprano note that falls just
under the threshold for a step leaves the alto on top, so the top line leaps, and
passing notes vanish. A *lines* generator writes, at each step of each of ``V``
voices, one of ``P + 1`` classes (a rest, or a pitch row) and an onset (the voice
strikes its note again), and it is decoded voice by voice: where the voice more
likely sings than rests (the threshold), its likeliest pitch. Every voice sings a
whole line.

The voices of a bar are read off its merged roll (so any seed, any number of
tracks, has them): at each step the sounding pitches from the top down fill the
upper voices, and the lowest always goes to the last voice (the bass), so a rest
in an inner voice leaves the bass where it was. With one part, the part is the top
line (the melody). The other networks (conditioner, critic, encoder) read merged
rolls, made from the lines; so do harmonize and lock (``gan_constraints``), through
the merged probabilities.

The generator gives each voice's step a distribution of its own, drawn independently
of the others: a voice wanders between the likely chord tones, the top line leaps,
and a bar's rhythm is its likeliest, the same wherever the latent is alike. With
voice leading (:class:`VoiceLeading`), a small recurrent network reads the bar as it
is drawn, a step at a time, and shifts each voice's odds of singing and of striking
and its new note's pitch by what was drawn before (the voices' last notes, the bar so
far). It is trained with the generator, teacher-forced on the real bars
(:func:`line_loss`), and applied as the bar is drawn (:func:`decode_lines`), where a
voice then strikes with its probability of striking instead of wherever that is
above one half.

Shapes: pitch logits ``(B, V, S, P + 1)`` (class 0 is the rest), onset logits
``(B, V, S)``, bars ``(B, 2, S, P)``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.special import expit
from torch import nn

from ..sampling import sample_logits

REST = 0  # the class of a silent voice step; pitch row p is class p + 1


def line_targets(bar: torch.Tensor, parts: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The voices of merged bars ``(B, 2, S, P)``: classes ``(B, V, S)`` and onsets ``(B, V, S)``.

    Sounding pitches fill the voices from the top down, the lowest always the last
    voice (the only one when ``parts`` is 1 is the top). A voice's onset is the
    onset cell of its pitch.
    """
    sounding = bar[:, 0] > 0.5  # (B, S, P)
    rows = torch.arange(sounding.shape[-1], device=bar.device)
    ranked = torch.where(sounding, rows, -1).sort(dim=-1, descending=True).values  # (B, S, P), top first
    n = sounding.sum(dim=-1)  # (B, S)
    voices = []
    if parts == 1:
        voices.append(torch.where(n >= 1, ranked[..., 0] + 1, REST))
    else:
        for k in range(parts - 1):
            voices.append(torch.where(k < n - 1, ranked[..., k] + 1, REST))
        lowest = ranked.gather(-1, (n - 1).clamp(min=0)[..., None]).squeeze(-1)
        voices.append(torch.where(n >= 1, lowest + 1, REST))
    classes = torch.stack(voices, dim=1)  # (B, V, S)
    onsets = nn.functional.pad(bar[:, 1], (1, 0))  # (B, S, P + 1): the rest class never starts a note
    onset = onsets[:, None].expand(-1, parts, -1, -1).gather(-1, classes[..., None]).squeeze(-1)
    return classes, (onset > 0.5).float()


class VoiceLeading(nn.Module):
    """A small recurrent network that reads a bar's voices as they are drawn, one step of the
    bar at a time, and weighs each voice's next step by what came before it.

    At each step it reads every voice's class and whether it struck at the step before,
    and the generator's distributions there; it gives, for each voice, log-weights of each
    pitch row (``absolute``) and of each interval from the voice's note before
    (``relative``), added to the generator's pitch logits where a note starts, and log-odds
    added to the voice's singing and striking (``rhythm``). Its state starts from the
    pitches of the bar before. Its output layers start at zero: the generator's own
    distributions. The voices of one step are drawn together, so a bar takes as many
    network steps as it has steps, whatever the number of voices.
    """

    def __init__(self, parts: int, n_pitches: int, hidden: int = 64) -> None:
        super().__init__()
        self.parts, self.n_pitches = parts, n_pitches
        self.before = nn.Embedding(parts * (n_pitches + 1), hidden)  # each voice's class at the step before
        self.struck = nn.Linear(parts, hidden, bias=False)  # which voices struck at the step before
        self.marginal = nn.Linear(parts * (n_pitches + 1), hidden)  # the generator's distributions here
        self.onsets = nn.Linear(parts, hidden, bias=False)  # the generator's onset logits here
        self.start = nn.Linear(n_pitches, hidden)
        self.rnn = nn.GRU(hidden, hidden, batch_first=True)
        self.rhythm = nn.Linear(hidden, parts * 2)  # log-odds added to each voice's singing and striking
        self.absolute = nn.Linear(hidden, parts * n_pitches)
        self.relative = nn.Linear(hidden, parts * (2 * n_pitches - 1))
        for head in (self.absolute, self.relative, self.rhythm):  # zero at first: the generator's own distribution
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
        self._arrays: tuple[tuple[int, ...], tuple[np.ndarray, ...]] | None = None

    def initial(self, prev: torch.Tensor | None, batch: int) -> torch.Tensor:
        """The state ``(1, B, H)`` before a bar, from the pitches of ``prev`` ``(B, 2, S, P)``."""
        profile = prev[:, 0].mean(dim=1) if prev is not None else self.start.weight.new_zeros(batch, self.n_pitches)
        return torch.tanh(self.start(profile.to(self.start.weight.dtype)))[None]

    def _heads(self, h: torch.Tensor, before: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """From states ``(..., H)`` and the classes before ``(..., V)``: pitch log-weights ``(..., V, P)``
        and singing and striking log-odds ``(..., V)``."""
        V, P = self.parts, self.n_pitches
        sing, strike = self.rhythm(h).unflatten(-1, (V, 2)).unbind(dim=-1)
        weights = self.absolute(h).unflatten(-1, (V, P)) + _by_interval(self.relative(h).unflatten(-1, (V, 2 * P - 1)),
                                                                         before)
        return weights, sing, strike

    def bias(self, pitch_logits: torch.Tensor, onset_logits: torch.Tensor, struck: torch.Tensor,
             before: torch.Tensor, prev: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Teacher-forced, from the real classes ``before`` and onsets ``struck`` at the step before
        ``(B, V, S)``, and lines' logits: log-weights of each voice's pitch at each step
        ``(B, V, S, P)``, and log-odds added to its singing and its striking ``(B, V, S)``."""
        B, V = pitch_logits.shape[:2]
        by_step = (lambda t: t.transpose(1, 2))  # noqa: E731 - (B, V, S, ...) -> (B, S, V, ...)
        offsets = torch.arange(V, device=before.device)[:, None] * (self.n_pitches + 1)
        x = (self.before(by_step(before + offsets)).sum(dim=2) + self.struck(by_step(struck.float()))
             + self.marginal(by_step(pitch_logits.softmax(dim=-1)).flatten(2)) + self.onsets(by_step(onset_logits)))
        h, _ = self.rnn(x, self.initial(prev, B))  # (B, S, H)
        weights, sing, strike = self._heads(h, by_step(before))
        return by_step(weights), by_step(sing), by_step(strike)

    def arrays(self) -> tuple[np.ndarray, ...]:
        """What drawing reads, as NumPy arrays, kept until a weight changes: each voice's class
        before and its onset's share of the cell's input gates ``(V, P + 1, 3H)`` and ``(V, 3H)``;
        one matrix and bias for everything read off the state (the hidden gates, the rhythm,
        the pitch layers); the generator's distributions' and onset logits' shares of the
        input gates, and the input gates' bias."""
        versions = tuple(p._version for p in self._parameters_read())
        if self._arrays is None or self._arrays[0] != versions:
            to_gates = self.rnn.weight_ih_l0.T  # (H, 3H)
            outputs = (self.rnn.weight_hh_l0, self.rhythm.weight, self.absolute.weight, self.relative.weight)
            biases = (self.rnn.bias_hh_l0, self.rhythm.bias, self.absolute.bias, self.relative.bias)
            arrays = (self.before.weight.unflatten(0, (self.parts, -1)) @ to_gates, self.struck.weight.T @ to_gates,
                      torch.cat(outputs).T, torch.cat(biases), self.marginal.weight.T @ to_gates,
                      self.onsets.weight.T @ to_gates, self.marginal.bias @ to_gates + self.rnn.bias_ih_l0)
            self._arrays = versions, tuple(_as_array(t) for t in arrays)
        return self._arrays[1]

    def _parameters_read(self) -> tuple[torch.Tensor, ...]:
        """Every parameter drawing reads (listed: walking the modules each bar costs more)."""
        return (self.before.weight, self.struck.weight, self.marginal.weight, self.marginal.bias, self.onsets.weight,
                self.rnn.weight_ih_l0, self.rnn.weight_hh_l0, self.rnn.bias_ih_l0, self.rnn.bias_hh_l0,
                self.rhythm.weight, self.rhythm.bias, self.absolute.weight, self.absolute.bias, self.relative.weight,
                self.relative.bias)

    def drawing(self, pitch_logits: torch.Tensor, onset_logits: torch.Tensor, prev: torch.Tensor | None
                ) -> _Drawing:
        """The network read one step of the bar at a time, for drawing lines' logits
        ``(B, V, S, P + 1)`` and ``(B, V, S)`` after ``prev``."""
        return _Drawing(self, pitch_logits, onset_logits, prev)


def _as_array(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()


class _Drawing:
    """:class:`VoiceLeading` one step of the bar at a time, as :meth:`VoiceLeading.bias` reads
    the whole bar. What does not depend on the drawn voices is computed for every step at
    once; the rest, a few small products per step, runs in NumPy on the CPU with the
    recurrent cell written out (the gates of ``nn.GRU``): a bar is 8 or 16 steps of a
    handful of tiny operations, where a framework's per-call overhead (or a GPU's launch)
    would outweigh the arithmetic."""

    def __init__(self, leading: VoiceLeading, pitch_logits: torch.Tensor, onset_logits: torch.Tensor,
                 prev: torch.Tensor | None) -> None:
        B, V = pitch_logits.shape[:2]
        (self.before, self.struck, self.outputs, self.output_bias, of_marginal, of_onsets, bias) = leading.arrays()
        marginal = _as_array(pitch_logits.softmax(dim=-1).transpose(1, 2).flatten(2))  # (B, S, V(P + 1))
        fixed = marginal @ of_marginal + _as_array(onset_logits.transpose(1, 2)) @ of_onsets + bias  # (B, S, 3H)
        self.fixed = np.ascontiguousarray(fixed.transpose(1, 0, 2))  # (S, B, 3H)
        self.h = _as_array(leading.initial(prev, B)[0])  # (B, H)
        self.read = self.h @ self.outputs + self.output_bias  # all the state gives: hidden gates, then the heads
        self.V, self.P, self.H = V, leading.n_pitches, self.h.shape[1]
        self.voices = np.arange(V)
        self.rows = np.arange(V)[None, :, None], np.arange(leading.n_pitches)

    def step(self, s: int, before: np.ndarray, struck: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Step ``s``, after the voices' classes ``before`` and onsets ``struck`` ``(B, V)``: the
        log-odds added to each voice's singing and striking ``(B, V)``."""
        H = self.H
        gi = self.fixed[s] + self.before[self.voices, before].sum(axis=1) + struck @ self.struck
        gh = self.read[:, : 3 * H]
        reset_update = expit(gi[:, : 2 * H] + gh[:, : 2 * H])
        n = np.tanh(gi[:, 2 * H:] + reset_update[:, :H] * gh[:, 2 * H:])
        self.h = n + reset_update[:, H:] * (self.h - n)
        self.read = self.h @ self.outputs + self.output_bias
        odds = self.read[:, 3 * H: 3 * H + 2 * self.V].reshape(-1, self.V, 2)
        return odds[..., 0], odds[..., 1]

    def pitch_weights(self, before: np.ndarray) -> np.ndarray:
        """The log-weights ``(B, V, P)`` of each voice's new note's pitch at the step last read."""
        V, P = self.V, self.P
        heads = self.read[:, 3 * self.H + 2 * V:]
        absolute = heads[:, : V * P].reshape(-1, V, P)
        relative = heads[:, V * P:].reshape(-1, V, 2 * P - 1)
        voice, columns = self.rows
        by_interval = relative[np.arange(len(before))[:, None, None], voice,
                               P - np.maximum(before, 1)[..., None] + columns]
        return absolute + np.where(before[..., None] > REST, by_interval, 0.0)


def _by_interval(table: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """``table[..., r - (c - 1) + P - 1]`` for each pitch row ``r`` after class ``c`` (0 after a rest)."""
    P = (table.shape[-1] + 1) // 2
    rows = torch.arange(P, device=classes.device)
    weights = table.gather(-1, rows - classes.clamp(min=1)[..., None] + P)
    return torch.where(classes[..., None] > REST, weights, 0.0)


def line_loss(pitch: torch.Tensor, onset: torch.Tensor, bar: torch.Tensor, mask: torch.Tensor,
              prev: torch.Tensor | None = None, leading: VoiceLeading | None = None) -> torch.Tensor:
    """Nats per bar of redrawing ``bar`` ``(B, 2, S, P)`` from lines: the voices' classes, and the
    onsets of the voices that sound; over the steps of ``mask`` ``(B, S)``.

    A class's probability is the voice's probability of singing (or resting) times, if
    it sings, its pitch's among the pitches. With ``leading``, the singing and striking
    odds and a new note's pitch are weighed by it, read from the real voices before
    (teacher-forced: the voices' classes and onsets at the step before, the last step of
    ``prev`` at the first).
    """
    classes, target = line_targets(bar, pitch.shape[1])
    sing = pitch[..., 1:].logsumexp(dim=-1) - pitch[..., REST]  # log-odds of singing (B, V, S)
    pitches = pitch[..., 1:]
    if leading is not None:
        length = mask.sum(dim=1).long()
        first, first_struck = _last_classes(prev if prev is not None else torch.zeros_like(bar), length,
                                            classes.shape[1])
        before = torch.cat([first[..., None], classes[..., :-1]], dim=-1)
        struck = torch.cat([first_struck[..., None], target[..., :-1] * (classes[..., :-1] != REST)], dim=-1)
        starts = (classes != REST) & ((target > 0.5) | (before != classes))
        weights, more_sing, more_strike = leading.bias(pitch, onset, struck, before, prev)
        pitches = pitches + torch.where(starts[..., None], weights, 0.0)
        sing, onset = sing + more_sing, onset + more_strike
    sings = (classes != REST).float()
    chosen = pitches.log_softmax(dim=-1).gather(-1, (classes - 1).clamp(min=0)[..., None]).squeeze(-1)
    ce = nn.functional.binary_cross_entropy_with_logits(sing, sings, reduction="none") - chosen * sings
    strikes = nn.functional.binary_cross_entropy_with_logits(onset, target, reduction="none")
    return ((ce + strikes * sings) * mask[:, None]).sum() / len(bar)


def _last_classes(bar: torch.Tensor, length: torch.Tensor, parts: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The voices' classes and onsets ``(B, V)`` at the last step (of ``length``) of bars ``(B, 2, S, P)``."""
    final = bar[torch.arange(len(bar)), :, (length - 1).clamp(min=0)]  # (B, 2, P)
    classes, onsets = line_targets(final[:, :, None], parts)
    return classes[..., 0], onsets[..., 0]


def merge_lines(pitch: torch.Tensor, onset: torch.Tensor) -> torch.Tensor:
    """Lines as a merged bar ``(B, 2, S, P)``: ``pitch`` ``(B, V, S, P + 1)`` and ``onset``
    ``(B, V, S)`` probabilities (or one-hots); a pitch sounds if any voice sings it."""
    sings = pitch[..., 1:]  # (B, V, S, P)
    sounding = 1 - (1 - sings).prod(dim=1)
    starts = 1 - (1 - sings * onset[..., None]).prod(dim=1)
    return torch.stack([sounding, starts], dim=1)


def line_probabilities(pitch_logits: torch.Tensor, onset_logits: torch.Tensor) -> torch.Tensor:
    """The merged bar's probabilities ``(B, 2, S, P)`` (for harmonize and lock)."""
    return merge_lines(pitch_logits.softmax(dim=-1), torch.sigmoid(onset_logits))


def straight_through_lines(pitch_logits: torch.Tensor, onset_logits: torch.Tensor) -> torch.Tensor:
    """The merged bar as it will be played (each voice's likeliest class, onsets above 0.5),
    with the gradients of the probabilities (straight-through), for the critic."""
    soft, strike = pitch_logits.softmax(dim=-1), torch.sigmoid(onset_logits)
    hard = nn.functional.one_hot(soft.argmax(dim=-1), soft.shape[-1]).to(soft.dtype)
    return merge_lines(soft + (hard - soft).detach(), strike + ((strike > 0.5).to(strike.dtype) - strike).detach())


def decode_lines(pitch_logits: torch.Tensor, onset_logits: torch.Tensor, length: torch.Tensor,
                 prev: torch.Tensor | None = None, allowed: torch.Tensor | None = None,
                 max_voices: int | None = None, threshold: float = 0.5, temperature: float = 0.0,
                 top_p: float = 1.0, generator: torch.Generator | None = None,
                 leading: VoiceLeading | None = None) -> torch.Tensor:
    """Lines -> a bool merged bar ``(B, 2, S, P)``, voice by voice, as notes.

    A voice sings where its probability of singing (not resting) exceeds
    ``threshold``. It starts a note where it marks an onset or was silent at the step
    before, on a pitch drawn from its pitch distribution there (at ``temperature``
    and ``top_p``, from ``generator``; temperature 0: the likeliest), and holds that
    pitch until it next starts one or rests: so a wavering pitch choice within a
    note does not split it. With ``leading``, the bar is drawn a step at a time, each
    step's voices weighed by what was drawn before it (:class:`VoiceLeading`), and a
    voice strikes with its probability of striking (at a temperature above 0).

    ``prev`` ``(B, 2, S, P)`` is the bar before (its voices at its last step, of
    ``length``, go on into this one); ``allowed`` ``(P,)`` leaves pitch rows out
    (the key lock); ``max_voices`` keeps the top voices and the bass.
    """
    B, C = pitch_logits.shape[0], pitch_logits.shape[-1]
    classes, strikes = line_classes(pitch_logits, onset_logits, length, prev, allowed, max_voices, threshold,
                                    temperature, top_p, generator, leading)
    sings = nn.functional.one_hot(classes, C)[..., 1:].bool()  # (B, V, S, P)
    sounding = sings.any(dim=1)  # (B, S, P)
    before = torch.zeros_like(sounding)
    before[:, 1:] = sounding[:, :-1]
    if prev is not None:
        before[:, 0] = prev[torch.arange(B), 0, (length - 1).clamp(min=0)] > 0.5
    struck = (sings & strikes[..., None]).any(dim=1)
    return torch.stack([sounding, sounding & (~before | struck)], dim=1)


def line_classes(pitch_logits: torch.Tensor, onset_logits: torch.Tensor, length: torch.Tensor,
                 prev: torch.Tensor | None = None, allowed: torch.Tensor | None = None,
                 max_voices: int | None = None, threshold: float = 0.5, temperature: float = 0.0,
                 top_p: float = 1.0, generator: torch.Generator | None = None,
                 leading: VoiceLeading | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The voices' classes and strikes ``(B, V, S)`` that :func:`decode_lines` plays (same arguments)."""
    B, V, S, C = pitch_logits.shape
    may_sing = torch.ones_like(pitch_logits[..., 0], dtype=torch.bool)  # (B, V, S)
    if max_voices is not None and max_voices < V:
        kept = [*range(max_voices - 1), V - 1] if max_voices > 1 else [0]
        may_sing[:, [k for k in range(V) if k not in kept]] = False
    may_sing &= torch.arange(S, device=may_sing.device)[None, None] < length[:, None, None]
    pitches = pitch_logits[..., 1:] if allowed is None else pitch_logits[..., 1:].masked_fill(~allowed, float("-inf"))
    last = torch.full_like(may_sing[..., 0], REST, dtype=torch.long)  # (B, V): each voice's class at the step before
    last_struck = torch.zeros_like(may_sing[..., 0])
    if prev is not None:
        last, last_struck = _last_classes(prev, length, V)
        last_struck = last_struck > 0.5
        if allowed is not None:
            last = torch.where(nn.functional.pad(allowed, (1, 0))[last], last, REST)
    if leading is not None:
        return _draw_in_turn(pitch_logits, onset_logits, pitches, may_sing, last, last_struck, prev, leading,
                             threshold, temperature, top_p, generator)
    singing = may_sing & (1 - pitch_logits.softmax(dim=-1)[..., REST] > threshold)  # (B, V, S)
    sang = torch.cat([(last != REST)[..., None], singing[..., :-1]], dim=-1)  # at the step before
    strikes = onset_logits > 0
    starts = singing & (strikes | ~sang)
    chosen = sample_logits(pitches.reshape(-1, C - 1), temperature, top_p, generator).view(B, V, S) + 1
    begun = torch.where(starts, torch.arange(S, device=starts.device), -1).cummax(dim=-1).values  # the note's start
    held = torch.where(begun >= 0, chosen.gather(-1, begun.clamp(min=0)), last[..., None])
    return torch.where(singing, held, REST), strikes


def _draw_in_turn(pitch_logits: torch.Tensor, onset_logits: torch.Tensor, pitches: torch.Tensor,
                  may_sing: torch.Tensor, last: torch.Tensor, last_struck: torch.Tensor, prev: torch.Tensor | None,
                  leading: VoiceLeading, threshold: float, temperature: float, top_p: float,
                  generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The voices' classes and strikes ``(B, V, S)``, a step at a time, each voice weighed by
    ``leading`` from what was drawn before: whether it sings (above
    ``threshold``), whether it strikes (drawn at a temperature above 0), and a new note's
    pitch (drawn from ``pitches`` ``(B, V, S, P)`` at ``temperature`` and ``top_p``, by
    the Gumbel-max trick with noise from ``generator``); a held note is kept."""
    device = pitch_logits.device
    S = pitches.shape[2]
    by_step = (lambda t: t.movedim(2, 0).contiguous().cpu().numpy())  # noqa: E731 - (B, V, S, ...) -> (S, B, V, ...)
    with torch.no_grad():
        drawing = leading.drawing(pitch_logits, onset_logits, prev)
        clamped = min(max(threshold, 1e-9), 1 - 1e-9)
        odds_threshold = math.log(clamped / (1 - clamped))
        sing_odds = pitch_logits[..., 1:].logsumexp(dim=-1) - pitch_logits[..., REST]
        need_to_sing = by_step(torch.where(may_sing, odds_threshold - sing_odds, float("inf")))  # (S, B, V)
        need_to_strike = -onset_logits
        if temperature > 0:  # a voice strikes where its odds exceed those of a uniform draw
            chance = torch.rand(onset_logits.shape, generator=generator, device=device)
            need_to_strike = need_to_strike + torch.logit(chance.clamp(1e-6, 1 - 1e-6))
            uniform = torch.rand(pitches.shape, generator=generator, device=device).clamp(1e-12, 1 - 1e-7)
            gumbel = by_step(-torch.log(-torch.log(uniform)))  # (S, B, V, P)
        need_to_strike = by_step(need_to_strike)
        pitches = by_step(pitches.float())
    classes = np.full(need_to_sing.shape, REST, dtype=np.int64)  # (S, B, V)
    strikes = np.zeros(classes.shape, dtype=bool)
    current, struck = last.cpu().numpy().copy(), last_struck.cpu().numpy().astype(np.float32)  # (B, V)
    for s in range(S):
        more_sing, more_strike = drawing.step(s, current, struck)
        sings = more_sing > need_to_sing[s]
        starts = sings & ((more_strike > need_to_strike[s]) | (current == REST))
        new = current
        if starts.any():
            logits = pitches[s] + drawing.pitch_weights(current)  # (B, V, P)
            if temperature <= 1e-6:
                drawn = logits.argmax(axis=-1)
            else:
                drawn = (_nucleus(logits / temperature, top_p) + gumbel[s]).argmax(axis=-1)
            new = np.where(starts, drawn + 1, current)
        classes[s] = current = np.where(sings, new, REST)
        strikes[s] = starts  # as the onsets it learned from: every note's first step
        struck = starts.astype(np.float32)
    as_tensor = (lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(1, 2, 0))).to(device))  # noqa: E731
    return as_tensor(classes), as_tensor(strikes)


def _nucleus(logits: np.ndarray, top_p: float) -> np.ndarray:
    """``logits`` ``(..., P)`` with the rows outside each row's top-p nucleus at -inf."""
    if top_p >= 1.0:
        return logits
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    order = np.argsort(-probs, axis=-1, kind="stable")
    ranked = np.take_along_axis(probs, order, axis=-1)
    keep = np.zeros_like(probs, dtype=bool)
    np.put_along_axis(keep, order, ranked.cumsum(axis=-1) - ranked < top_p, axis=-1)  # always keeps the first
    return np.where(keep, logits, -np.inf)
