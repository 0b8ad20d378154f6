"""Voice leading for a GAN that writes lines: a small recurrent network that weighs each
step of a bar by what was drawn before it (``gan_lines`` reads and decodes the lines).

The network is trained teacher-forced on the real bars (:meth:`VoiceLeading.bias`, in
``gan_lines.line_loss``) and applied as a bar is drawn (:meth:`VoiceLeading.draw`, from
``gan_lines.line_classes``). Drawing reads it one step of the bar at a time in NumPy
(:class:`_Drawing`), which must weigh a bar exactly as :meth:`VoiceLeading.bias` does.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.special import expit
from torch import nn

from .gan_lines import REST


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
        # the parameters drawing reads (all but the start's), listed once: walking the modules each bar costs more
        self._read = tuple(p for name, p in self.named_parameters() if not name.startswith("start."))

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
        versions = tuple(p._version for p in self._read)
        if self._arrays is None or self._arrays[0] != versions:
            to_gates = self.rnn.weight_ih_l0.T  # (H, 3H)
            outputs = (self.rnn.weight_hh_l0, self.rhythm.weight, self.absolute.weight, self.relative.weight)
            biases = (self.rnn.bias_hh_l0, self.rhythm.bias, self.absolute.bias, self.relative.bias)
            arrays = (self.before.weight.unflatten(0, (self.parts, -1)) @ to_gates, self.struck.weight.T @ to_gates,
                      torch.cat(outputs).T, torch.cat(biases), self.marginal.weight.T @ to_gates,
                      self.onsets.weight.T @ to_gates, self.marginal.bias @ to_gates + self.rnn.bias_ih_l0)
            self._arrays = versions, tuple(_as_array(t) for t in arrays)
        return self._arrays[1]

    def drawing(self, pitch_logits: torch.Tensor, onset_logits: torch.Tensor, prev: torch.Tensor | None
                ) -> _Drawing:
        """The network read one step of the bar at a time, for drawing lines' logits
        ``(B, V, S, P + 1)`` and ``(B, V, S)`` after ``prev``."""
        return _Drawing(self, pitch_logits, onset_logits, prev)

    def draw(self, pitch_logits: torch.Tensor, onset_logits: torch.Tensor, pitches: torch.Tensor,
             may_sing: torch.Tensor, last: torch.Tensor, last_struck: torch.Tensor, prev: torch.Tensor | None,
             threshold: float, temperature: float, top_p: float,
             generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The voices' classes and strikes ``(B, V, S)``, a step at a time, each voice weighed by
        the network from what was drawn before: whether it sings (above
        ``threshold``), whether it strikes (drawn at a temperature above 0), and a new note's
        pitch (drawn from ``pitches`` ``(B, V, S, P)`` at ``temperature`` and ``top_p``, by
        the Gumbel-max trick with noise from ``generator``); a held note is kept."""
        device = pitch_logits.device
        S = pitches.shape[2]
        by_step = (lambda t: t.movedim(2, 0).contiguous().cpu().numpy())  # noqa: E731 - (B, V, S, ...) -> (S, B, V, ...)
        with torch.no_grad():
            drawing = self.drawing(pitch_logits, onset_logits, prev)
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
        self.voices, self.columns = np.arange(V), np.arange(leading.n_pitches)

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
        by_interval = relative[np.arange(len(before))[:, None, None], self.voices[:, None],
                               P - np.maximum(before, 1)[..., None] + self.columns]
        return absolute + np.where(before[..., None] > REST, by_interval, 0.0)


def _by_interval(table: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """``table[..., r - (c - 1) + P - 1]`` for each pitch row ``r`` after class ``c`` (0 after a rest)."""
    P = (table.shape[-1] + 1) // 2
    rows = torch.arange(P, device=classes.device)
    weights = table.gather(-1, rows - classes.clamp(min=1)[..., None] + P)
    return torch.where(classes[..., None] > REST, weights, 0.0)


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
