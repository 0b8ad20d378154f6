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
voice leading (:class:`VoiceLeading`), a small recurrent network reads the voices
as they are drawn, step by step and from the top voice down, and shifts each
voice's odds of singing and of striking and its new note's pitch by what was drawn
before it (the voice's last note, the voice above, the bar so far). It is trained
with the generator, teacher-forced on the real bars (:func:`line_loss`), and
applied as each voice is drawn in turn (:func:`decode_lines`), where a voice then
strikes with its probability of striking instead of wherever that is above one half.

Shapes: pitch logits ``(B, V, S, P + 1)`` (class 0 is the rest), onset logits
``(B, V, S)``, bars ``(B, 2, S, P)``.
"""

from __future__ import annotations

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
    """A small recurrent network that reads a bar's voices as they are drawn, step by step
    and from the top voice down, and weighs each by what came before it.

    At each voice's step it reads the voice's class and whether it struck at the step
    before, the class of the voice above at the same step, which voice it is, and the
    generator's distributions there. It gives log-weights of each pitch row
    (``absolute``) and of each interval from the voice's note before (``relative``),
    added to the generator's pitch logits where a note starts, and log-odds added to
    the voice's singing and striking (``rhythm``). Its state starts from the pitches of
    the bar before. Its output layers start at zero: the generator's own distributions.
    """

    def __init__(self, parts: int, n_pitches: int, hidden: int = 64) -> None:
        super().__init__()
        self.parts, self.n_pitches = parts, n_pitches
        self.before = nn.Embedding(n_pitches + 1, hidden)
        self.above = nn.Embedding(n_pitches + 1, hidden)
        self.voice = nn.Embedding(parts, hidden)
        self.marginal = nn.Linear(n_pitches + 1, hidden)
        self.onsets = nn.Linear(2, hidden)  # the voice's onset logit here, and whether it struck at the step before
        self.start = nn.Linear(n_pitches, hidden)
        self.rnn = nn.GRU(hidden, hidden, batch_first=True)
        self.absolute = nn.Linear(hidden, n_pitches)
        self.relative = nn.Linear(hidden, 2 * n_pitches - 1)
        self.rhythm = nn.Linear(hidden, 2)  # log-odds added to singing and to striking
        self._arrays: tuple[tuple[int, ...], tuple[np.ndarray, ...]] | None = None
        for head in (self.absolute, self.relative, self.rhythm):  # zero at first: the generator's own distribution
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def initial(self, prev: torch.Tensor | None, batch: int) -> torch.Tensor:
        """The state ``(1, B, H)`` before a bar, from the pitches of ``prev`` ``(B, 2, S, P)``."""
        profile = prev[:, 0].mean(dim=1) if prev is not None else torch.zeros(batch, self.n_pitches)
        return torch.tanh(self.start(profile.to(self.start.weight.dtype)))[None]

    def _inputs(self, pitch_logits: torch.Tensor, onset_logits: torch.Tensor, struck: torch.Tensor,
                before: torch.Tensor, above: torch.Tensor, voice: torch.Tensor) -> torch.Tensor:
        return (self.before(before) + self.above(above) + self.voice(voice)
                + self.marginal(pitch_logits.softmax(dim=-1))
                + self.onsets(torch.stack([onset_logits, struck.to(onset_logits.dtype)], dim=-1)))

    def _bias(self, h: torch.Tensor, before: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        sing, strike = self.rhythm(h).unbind(dim=-1)
        return self.absolute(h) + _by_interval(self.relative(h), before), sing, strike

    def bias(self, pitch_logits: torch.Tensor, onset_logits: torch.Tensor, struck: torch.Tensor,
             before: torch.Tensor, above: torch.Tensor, prev: torch.Tensor | None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Teacher-forced, from the real classes ``before`` and ``above`` and onsets ``struck`` at the
        step before ``(B, V, S)``, and lines' logits: log-weights of each voice's pitch at each step
        ``(B, V, S, P)``, and log-odds added to its singing and its striking ``(B, V, S)``."""
        B, V, S, _ = pitch_logits.shape
        voice = torch.arange(V, device=before.device)[None, :, None].expand(B, V, S)
        order = (lambda t: t.transpose(1, 2).reshape(B, S * V, *t.shape[3:]))  # noqa: E731 - steps, then voices
        x = self._inputs(*(order(t) for t in (pitch_logits, onset_logits, struck, before, above, voice)))
        h, _ = self.rnn(x, self.initial(prev, B))  # (B, S*V, H)
        h = h.view(B, S, V, -1).transpose(1, 2)  # (B, V, S, H)
        return self._bias(h, before)

    def arrays(self) -> tuple[np.ndarray, ...]:
        """What drawing reads, as NumPy arrays, kept until a weight changes: the drawn inputs'
        share of the cell's input gates ``(P + 1, P + 1, 2, 3H)`` by the class before, the
        class above and whether the voice struck; one matrix and bias for everything read
        off the state (the hidden gates, the rhythm, the pitch layers); and the other
        inputs' shares of the input gates (of the generator's distributions, the onset
        logit, and each voice's with the biases)."""
        versions = tuple(p._version for p in self.parameters())
        if self._arrays is None or self._arrays[0] != versions:
            to_gates = self.rnn.weight_ih_l0.T  # (H, 3H)
            drawn = (self.before.weight[:, None, None] + self.above.weight[None, :, None]
                     + torch.stack([torch.zeros_like(self.onsets.weight[:, 1]), self.onsets.weight[:, 1]])[None, None])
            per_voice = self.voice.weight + self.marginal.bias + self.onsets.bias
            outputs = (self.rnn.weight_hh_l0, self.rhythm.weight, self.absolute.weight, self.relative.weight)
            biases = (self.rnn.bias_hh_l0, self.rhythm.bias, self.absolute.bias, self.relative.bias)
            arrays = (drawn @ to_gates, torch.cat(outputs).T, torch.cat(biases), self.marginal.weight.T @ to_gates,
                      self.onsets.weight[:, 0] @ to_gates, per_voice @ to_gates + self.rnn.bias_ih_l0)
            self._arrays = versions, tuple(_as_array(t) for t in arrays)
        return self._arrays[1]

    def drawing(self, pitch_logits: torch.Tensor, onset_logits: torch.Tensor, prev: torch.Tensor | None
                ) -> _Drawing:
        """The network read one voice's step at a time, for drawing lines' logits ``(B, V, S, P + 1)``
        and ``(B, V, S)`` after ``prev``."""
        return _Drawing(self, pitch_logits, onset_logits, prev)


def _as_array(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()


class _Drawing:
    """:class:`VoiceLeading` one voice's step at a time, as :meth:`VoiceLeading.bias` reads the
    whole bar. What does not depend on the drawn voices is computed for every step at once;
    the rest, a few small products per step, runs in NumPy on the CPU with the recurrent
    cell written out (the gates of ``nn.GRU``): a bar is 8 to 32 steps of a handful of
    tiny operations, where a framework's per-call overhead (or a GPU's launch) would
    outweigh the arithmetic."""

    def __init__(self, leading: VoiceLeading, pitch_logits: torch.Tensor, onset_logits: torch.Tensor,
                 prev: torch.Tensor | None) -> None:
        B = pitch_logits.shape[0]
        (self.inputs, self.outputs, self.output_bias, of_marginal, of_onset, of_voice) = leading.arrays()
        marginal = _as_array(pitch_logits.softmax(dim=-1))  # (B, V, S, P + 1)
        fixed = marginal @ of_marginal + _as_array(onset_logits)[..., None] * of_onset + of_voice[:, None]
        self.fixed = np.ascontiguousarray(fixed.transpose(2, 1, 0, 3))  # (S, V, B, 3H)
        self.h = _as_array(leading.initial(prev, B)[0])  # (B, H)
        self.read = self.h @ self.outputs + self.output_bias  # (B, 3H + 2 + 3P - 1): all the state gives
        self.H, self.P = self.h.shape[1], leading.n_pitches
        self.rows, self.columns = np.arange(B)[:, None], np.arange(self.P)

    def step(self, s: int, v: int, before: np.ndarray, above: np.ndarray, struck: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
        """Voice ``v`` at step ``s``, after the classes ``before`` and ``above`` and onsets ``struck``
        ``(B,)``: the log-odds added to its singing and its striking ``(B,)``."""
        H = self.H
        gi = self.fixed[s, v] + self.inputs[before, above, struck.view(np.int8)]
        gh = self.read[:, : 3 * H]
        reset_update = expit(gi[:, : 2 * H] + gh[:, : 2 * H])
        n = np.tanh(gi[:, 2 * H:] + reset_update[:, :H] * gh[:, 2 * H:])
        self.h = n + reset_update[:, H:] * (self.h - n)
        self.read = self.h @ self.outputs + self.output_bias
        return self.read[:, 3 * H], self.read[:, 3 * H + 1]

    def pitch_weights(self, before: np.ndarray) -> np.ndarray:
        """The log-weights ``(B, P)`` of a new note's pitch at the step last read, after ``before``."""
        both = self.read[:, 3 * self.H + 2:]  # (B, P + 2P - 1): by pitch row, then by interval
        by_interval = both[self.rows, 2 * self.P - np.maximum(before, 1)[:, None] + self.columns]
        return both[:, : self.P] + np.where(before[:, None] > REST, by_interval, 0.0)


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
    (teacher-forced: the voice's class and onset at the step before, the last step of
    ``prev`` at the first, and the voice above at the same step).
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
        above = torch.cat([torch.full_like(classes[:, :1], REST), classes[:, :-1]], dim=1)
        starts = (classes != REST) & ((target > 0.5) | (before != classes))
        weights, more_sing, more_strike = leading.bias(pitch, onset, struck, before, above, prev)
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
    note does not split it. With ``leading``, the voices are drawn step by step, from
    the top down, each weighed by what was drawn before it (:class:`VoiceLeading`),
    and a voice strikes with its probability of striking (at a temperature above 0).

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
    """The voices' classes and strikes ``(B, V, S)``, step by step and voice by voice from the top,
    each weighed by ``leading`` from what was drawn before: whether it sings (above
    ``threshold``), whether it strikes (drawn at a temperature above 0), and a new note's
    pitch (drawn from ``pitches`` ``(B, V, S, P)`` at ``temperature`` and ``top_p``, by
    the Gumbel-max trick with noise from ``generator``); a held note is kept."""
    device = pitch_logits.device
    _, V, S, _ = pitches.shape
    by_step = (lambda t: np.ascontiguousarray(t.cpu().numpy().swapaxes(0, 2)))  # noqa: E731 - (B, V, S) -> (S, V, B)
    with torch.no_grad():
        drawing = leading.drawing(pitch_logits, onset_logits, prev)
        odds_threshold = float(torch.logit(torch.tensor(threshold, dtype=torch.float64).clamp(1e-9, 1 - 1e-9)))
        sing_odds = pitch_logits[..., 1:].logsumexp(dim=-1) - pitch_logits[..., REST]
        need_to_sing = by_step(torch.where(may_sing, odds_threshold - sing_odds, float("inf")))  # (S, V, B)
        need_to_strike = -onset_logits
        if temperature > 0:  # a voice strikes where its odds exceed those of a uniform draw
            chance = torch.rand(onset_logits.shape, generator=generator, device=device)
            need_to_strike = need_to_strike + torch.logit(chance.clamp(1e-6, 1 - 1e-6))
            uniform = torch.rand(pitches.shape, generator=generator, device=device).clamp(1e-12, 1 - 1e-7)
            gumbel = by_step(-torch.log(-torch.log(uniform)))  # (S, V, B, P)
        need_to_strike = by_step(need_to_strike)
        pitches = by_step(pitches.float())
    classes = np.full((S, V, len(need_to_sing[0, 0])), REST, dtype=np.int64)
    strikes = np.zeros(classes.shape, dtype=bool)
    current, struck = last.cpu().numpy().T.copy(), last_struck.cpu().numpy().T.copy()  # (V, B)
    no_voice = np.full(classes.shape[2], REST)
    for s in range(S):
        for v in range(V):
            before = current[v]
            more_sing, more_strike = drawing.step(s, v, before, classes[s, v - 1] if v else no_voice, struck[v])
            sings = more_sing > need_to_sing[s, v]
            starts = sings & ((more_strike > need_to_strike[s, v]) | (before == REST))
            new = before
            if starts.any():
                logits = pitches[s, v] + drawing.pitch_weights(before)
                if temperature <= 1e-6:
                    drawn = logits.argmax(axis=1)
                else:
                    drawn = (_nucleus(logits / temperature, top_p) + gumbel[s, v]).argmax(axis=1)
                new = np.where(starts, drawn + 1, before)
            classes[s, v] = current[v] = np.where(sings, new, REST)
            strikes[s, v] = struck[v] = starts  # as the onsets it learned from: every note's first step
    as_tensor = (lambda a: torch.from_numpy(np.ascontiguousarray(a.swapaxes(0, 2))).to(device))  # noqa: E731
    return as_tensor(classes), as_tensor(strikes)


def _nucleus(logits: np.ndarray, top_p: float) -> np.ndarray:
    """``logits`` ``(B, P)`` with the rows outside each row's top-p nucleus at -inf."""
    if top_p >= 1.0:
        return logits
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    order = np.argsort(-probs, axis=1, kind="stable")
    ranked = np.take_along_axis(probs, order, axis=1)
    keep = np.zeros_like(probs, dtype=bool)
    np.put_along_axis(keep, order, ranked.cumsum(axis=1) - ranked < top_p, axis=1)  # always keeps the first
    return np.where(keep, logits, -np.inf)
