"""The RNN family: an LSTM over the polyphonic event encoding (see ``events.py``).

Autoregressive across steps and within each step (a step's notes come one at a
time, highest first), so chords are modelled jointly. Generation primes the LSTM
with the seed's events and samples all variations as one batch, with masks that
keep every sample a valid piece: notes of a step in falling pitch order, a HOLD
only for a pitch that sounded in the step before, the key lock and the polyphony
limit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call
from torch.utils.data import Dataset

from ..constraints import Plan
from ..corpus import transpositions
from ..sampling import SampleParams, locked_scale, sample_logits
from ..score import Note, Score, ScoreError, Track
from .base import ModelFamily, home_key_shift
from .events import FIRST_PITCH_TOKEN, PAD, STEP, EventCodec, allowed_tokens, structure
from .rnn_step import RnnStepper


@dataclass(frozen=True)
class RnnConfig:
    """Everything that rebuilds an RNN model exactly (stored in its checkpoint)."""

    lowest: int = 21  # MIDI pitch of the lowest pitch token
    n_pitches: int = 88  # pitches modelled, from ``lowest`` up
    steps_per_beat: int = 4  # the model's grid: steps per quarter note
    steps_per_bar: int = 16  # bar positions told apart (1: no bar-position input); longer bars share the last
    embed: int = 64  # token embedding size
    hidden: int = 256  # LSTM units per layer
    layers: int = 2  # LSTM layers
    dropout: float = 0.3  # between LSTM layers and before the output layer
    window: int = 256  # training sequence length in tokens
    transpose: int = 3  # training augmentation: every transposition within +-this many semitones
    repeat_onsets: bool = True  # False for frame data (JSB), where a repeated note reads as held
    key_normalized: bool = False  # trained in C major / C minor only: seeds are moved there and back
    register: float = 0.0  # mean pitch of the training music (0: unknown); seeds move by octaves to meet it
    shared_pitch: bool = False  # ONSET and HOLD of a pitch also share an input embedding and an output term
    weight_drop: float = 0.0  # DropConnect on the LSTM's hidden-to-hidden weights while training (AWD-LSTM)

    @property
    def codec(self) -> EventCodec:
        return EventCodec(self.lowest, self.n_pitches)


def bar_positions(steps, bar: int, table: int):  # numpy arrays, tensors or ints
    """Each step's position in its bar (of the piece's own meter), clipped to the table."""
    positions = steps % bar
    return positions.clip(max=table - 1) if hasattr(positions, "clip") else min(positions, table - 1)


def home_shift(score: Score, config: RnnConfig) -> int:
    """How far to move a seed into the model's home: its key (if key-normalized), then by
    octaves towards the register it was trained in. 0 when that would leave MIDI's range."""
    shift = home_key_shift(score) if config.key_normalized else 0
    pitched = [n.pitch for n in score.notes if not score.tracks[n.track].is_drum]
    if config.register and pitched:
        shift += 12 * round((config.register - (float(np.mean(pitched)) + shift)) / 12)
    try:
        score.transpose(shift)
    except ScoreError:
        return 0
    return shift


class RnnModel(nn.Module):
    """Tokens and bar positions in, next-token logits out."""

    def __init__(self, config: RnnConfig) -> None:
        super().__init__()
        self.config = config
        vocab = config.codec.vocab_size
        self.tokens = nn.Embedding(vocab, config.embed, padding_idx=PAD)
        self.positions = nn.Embedding(config.steps_per_bar, config.embed)
        self.lstm = nn.LSTM(config.embed, config.hidden, config.layers, batch_first=True,
                            dropout=config.dropout if config.layers > 1 else 0.0)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, vocab)
        if config.shared_pitch:  # what is known about a pitch is learned once, whether it starts or is held
            P = config.n_pitches
            self.pitch_in = nn.Embedding(P + 1, config.embed)  # row P: not a pitch
            self.pitch_out = nn.Linear(config.hidden, P, bias=False)
            kinds = torch.arange(vocab) - FIRST_PITCH_TOKEN
            self.register_buffer("pitch_of", torch.where(kinds >= 0, kinds % P, P), persistent=False)  # (V,)

    def embed(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Input vectors ``(..., E)`` of tokens and their bar positions."""
        x = self.tokens(tokens) + self.positions(positions)
        return x + self.pitch_in(self.pitch_of[tokens]) if self.config.shared_pitch else x

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Next-token logits ``(..., V)`` from the top layer's output ``(..., H)``."""
        out = self.head(hidden)
        if not self.config.shared_pitch:
            return out
        pitch = self.pitch_out(hidden)  # (..., P): the same term for the ONSET and the HOLD of a pitch
        specials = torch.zeros(*pitch.shape[:-1], FIRST_PITCH_TOKEN, dtype=pitch.dtype, device=pitch.device)
        return out + torch.cat([specials, pitch, pitch], dim=-1)

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor,
                state: tuple[torch.Tensor, torch.Tensor] | None = None,
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        x = self.embed(tokens, positions)  # (B, T, E)
        if self.training and self.config.weight_drop > 0:  # one mask per batch, the same at every time step
            weights = {name: nn.functional.dropout(w, self.config.weight_drop) if name.startswith("weight_hh") else w
                       for name, w in self.lstm.named_parameters()}
            out, state = functional_call(self.lstm, weights, (x, state))
        else:
            out, state = self.lstm(x, state)  # (B, T, H)
        return self.logits(self.drop(out)), state  # (B, T, V)

    def step(self, tokens: torch.Tensor, positions: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor],
             ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """One token per sequence ``(B,)`` in eval mode: logits ``(B, V)`` and the new state.

        The same arithmetic as :meth:`forward` (to float rounding), one ``lstm_cell`` per
        layer: a one-step ``nn.LSTM`` call goes through oneDNN on CPUs, which costs 4-10x
        more per call than the arithmetic itself.
        """
        x = self.embed(tokens, positions)  # (B, E)
        h, c = state  # (L, B, H) each
        hs, cs = [], []
        for k in range(self.lstm.num_layers):
            weights = [getattr(self.lstm, f"{name}_l{k}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            x, c_k = torch.lstm_cell(x, (h[k], c[k]), *weights)
            hs.append(x)
            cs.append(c_k)
        return self.logits(x), (torch.stack(hs), torch.stack(cs))


class TokenWindows(Dataset):
    """Fixed-length windows of the encoded pieces (random crops when training).

    Each item is ``(tokens (W+1,), positions (W+1,), allowed (W, V))``: ``allowed``
    masks what may follow each prefix (see ``events.allowed_tokens``).
    """

    def __init__(self, sequences: list[tuple[np.ndarray, np.ndarray]], window: int, train: bool,
                 n_pitches: int, repeat_onsets: bool) -> None:
        self.sequences = [s for s in sequences if len(s[0]) > 1]
        self.structure = [structure(tok, n_pitches) for tok, _ in self.sequences]
        self.window, self.train, self.repeat_onsets = window, train, repeat_onsets
        # Validation: every window of every piece, once, in order.
        self.index = [(i, start) for i, (tok, _) in enumerate(self.sequences)
                      for start in range(0, max(1, len(tok) - 1), window)]
        self.rng = np.random.default_rng(0)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.train:
            seq_i = int(self.rng.integers(len(self.sequences)))
            start = int(self.rng.integers(max(1, len(self.sequences[seq_i][0]) - self.window)))
        else:
            seq_i, start = self.index[i]
        tok, pos = self.sequences[seq_i]
        floor, previous = self.structure[seq_i]
        chunk = slice(start, start + self.window + 1)
        n = len(tok[chunk])
        out_tok = np.full(self.window + 1, PAD, dtype=np.int64)
        out_pos = np.zeros(self.window + 1, dtype=np.int64)
        out_tok[:n], out_pos[:n] = tok[chunk], pos[chunk]
        targets = slice(start + 1, start + n)
        allowed = np.ones((self.window, previous.shape[1] * 2 + FIRST_PITCH_TOKEN), dtype=bool)
        allowed[: n - 1] = allowed_tokens(floor[targets], previous[targets], self.repeat_onsets)
        return torch.from_numpy(out_tok), torch.from_numpy(out_pos), torch.from_numpy(allowed)


class RnnFamily(ModelFamily):
    """LSTM continuation of a seed."""

    name = "rnn"
    config_type = RnnConfig

    def __init__(self, fast_step: bool = True) -> None:
        self.fast_step = fast_step  # sample through rnn_step.RnnStepper; False: nn.LSTM once per token (as trained)

    def make_stepper(self, model: nn.Module, batch: int) -> RnnStepper:
        """The fast sampling step for ``batch`` sequences: a new one per call, nothing shared between threads."""
        return RnnStepper(model, batch)

    sizes = {  # noqa: RUF012 - read-only table
        "debug": {"embed": 16, "hidden": 32, "layers": 1, "dropout": 0.0, "window": 64},
        "bach": {"embed": 64, "hidden": 256, "layers": 2, "dropout": 0.3, "steps_per_beat": 2, "steps_per_bar": 12,
                 "lowest": 28, "n_pitches": 60},
        "folk": {"embed": 48, "hidden": 192, "layers": 2, "dropout": 0.3, "steps_per_beat": 4, "steps_per_bar": 16,
                 "lowest": 48, "n_pitches": 52, "transpose": 0, "key_normalized": True},  # every tune in C
        "small": {"embed": 48, "hidden": 192, "layers": 2, "dropout": 0.3},
        "base": {"embed": 64, "hidden": 256, "layers": 2, "dropout": 0.4},
        "jsb": {"embed": 64, "hidden": 256, "layers": 2, "dropout": 0.4, "weight_drop": 0.3},  # the benchmark
        "jsb-small": {"embed": 48, "hidden": 128, "layers": 2, "dropout": 0.2, "weight_drop": 0.15},  # a student
    }

    def build(self, config: RnnConfig) -> nn.Module:
        return RnnModel(config)

    def prepare(self, score: Score, config: RnnConfig) -> Score:
        """A score on the model's grid, its pitched tracks merged into one."""
        return score.merge_tracks().resample(config.steps_per_beat)

    def encode(self, score: Score, config: RnnConfig) -> tuple[np.ndarray, np.ndarray]:
        tokens, steps = config.codec.encode(score)
        return tokens, bar_positions(steps, score.steps_per_bar, config.steps_per_bar)

    def dataset(self, scores: list[Score], config: RnnConfig, train: bool) -> Dataset:
        prepared = [self.prepare(s, config) for s in scores if s.has_pitched_notes]
        if train:
            low, high = config.lowest, config.lowest + config.n_pitches - 1
            shifts = range(-config.transpose, config.transpose + 1)
            prepared = [t for s in prepared for t in transpositions(s, shifts, low, high)]
        return TokenWindows([self.encode(s, config) for s in prepared], config.window, train,
                            config.n_pitches, config.repeat_onsets)

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, ...],
             device: torch.device) -> tuple[torch.Tensor, dict[str, float]]:
        tokens, positions, allowed = (b.to(device) for b in batch)
        logits, _ = model(tokens[:, :-1], positions[:, :-1])
        logits = logits.float().masked_fill(~allowed, float("-inf"))  # (B, W, V)
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1),
                                           ignore_index=PAD)
        return loss, {"nll": float(loss.detach())}

    @torch.no_grad()
    def sequence_nll(self, model: nn.Module, config: RnnConfig, score: Score,
                     device: torch.device) -> tuple[float, int]:
        """Total NLL (nats) of a whole piece under the masked model, and its steps."""
        tokens, positions = self.encode(self.prepare(score, config), config)
        floor, previous = structure(tokens, config.n_pitches)
        allowed = torch.from_numpy(allowed_tokens(floor[1:], previous[1:], config.repeat_onsets)).to(device)
        model.eval()
        inputs = (torch.from_numpy(a[:-1])[None].to(device) for a in (tokens, positions))
        logits, _ = model(*inputs)
        logp = torch.log_softmax(logits[0].float().masked_fill(~allowed, float("-inf")), dim=-1)
        target = torch.from_numpy(tokens[1:]).to(device)
        return float(-logp.gather(1, target[:, None]).sum()), int((tokens == STEP).sum())

    @torch.inference_mode()
    def generate(self, model: nn.Module, config: RnnConfig, seed: Score | None, params: SampleParams,
                 device: torch.device) -> list[Score]:
        codec = config.codec
        base = (seed or Score(bpm=100)).padded_to_bar()
        shift = home_shift(base, config)
        prepared = self.prepare(base.transpose(shift), config)
        tokens, positions = self.encode(prepared, config)
        steps_per_bar = prepared.steps_per_bar
        n_steps = params.bars * steps_per_bar
        batch = params.n_variations
        generator = torch.Generator(device=device.type).manual_seed(params.random_seed)
        model.eval()
        logits, state = model(torch.from_numpy(tokens)[None].to(device), torch.from_numpy(positions)[None].to(device))
        last = logits[:, -1].expand(batch, -1)
        state = tuple(s.expand(-1, batch, -1).contiguous() for s in state)
        scale = locked_scale(params, seed)
        if scale is not None:
            scale = frozenset((pc + shift) % 12 for pc in scale)
        masker = _StepMasker(codec, batch, device, scale, params.max_polyphony, config.repeat_onsets)
        stepper = self.make_stepper(model, batch) if self.fast_step else None
        if stepper is not None:
            stepper.load_state(state)
        steps_done = torch.zeros(batch, dtype=torch.long, device=device)
        out = []
        while bool((steps_done < n_steps).any()):
            tok = sample_logits(last.masked_fill(~masker.allowed(), float("-inf")),
                                params.temperature, params.top_p, generator)
            tok = torch.where(steps_done < n_steps, tok, torch.full_like(tok, PAD))
            masker.update(tok)
            out.append(tok)
            # the token's own step, as in training: a STEP token belongs to the step it closes
            pos = bar_positions(prepared.length + steps_done, steps_per_bar, config.steps_per_bar)
            steps_done += (tok == STEP).long()
            if stepper is not None:
                last = stepper.step(tok, pos)  # (B, V), the same logits as nn.LSTM's to float rounding
            else:
                logits, state = model(tok[:, None], pos[:, None], state)
                last = logits[:, -1]
        sampled = torch.stack(out, dim=1).cpu().numpy()  # (B, T)
        return [self._to_score(base, prepared, row, config, shift) for row in sampled]

    def sample_constrained(self, model: nn.Module, config: RnnConfig, plan: Plan, params: SampleParams,
                           device: torch.device) -> list[list[Note]]:
        """New notes around the plan's fixed notes, their tokens forced while sampling (``rnn_constraints``)."""
        from .rnn_constraints import sample_constrained

        return sample_constrained(model, config, plan, params, device)

    def _to_score(self, base: Score, prepared: Score, tokens: np.ndarray, config: RnnConfig, shift: int) -> Score:
        """The seed, unchanged, then the continuation (moved back to the seed's key) on a track of its own."""
        ratio = base.steps_per_beat / config.steps_per_beat
        notes = [n for n in config.codec.decode(tokens[tokens != PAD], start_step=prepared.length)
                 if 0 <= n.pitch - shift < 128]
        program = next((t.program for t in base.tracks if not t.is_drum), 0)
        track = len(base.tracks)
        new = [Note(round(n.start * ratio), n.pitch - shift, max(1, round(n.duration * ratio)), n.velocity, track)
               for n in notes]
        length = base.length + round((np.count_nonzero(tokens == STEP)) * ratio)
        tracks = (*base.tracks, Track("Continuation", program))
        return Score(notes=base.notes + tuple(new), tracks=tracks, bpm=base.bpm,
                     time_signature=base.time_signature, steps_per_beat=base.steps_per_beat, length=length)


class _StepMasker:
    """Which tokens may come next, for a batch of sequences being sampled."""

    def __init__(self, codec: EventCodec, batch: int, device: torch.device,
                 scale: frozenset[int] | None, max_polyphony: int | None, repeat_onsets: bool = True) -> None:
        P = codec.n_pitches
        self.codec, self.P, self.max_poly, self.repeat_onsets = codec, P, max_polyphony, repeat_onsets
        self.pitch_index = torch.arange(P, device=device)
        self.last = torch.full((batch,), P, dtype=torch.long, device=device)  # pitch index of the last note
        self.count = torch.zeros(batch, dtype=torch.long, device=device)  # notes so far in this step
        self.previous = torch.zeros(batch, P, dtype=torch.bool, device=device)  # sounding in the step before
        self.current = torch.zeros(batch, P, dtype=torch.bool, device=device)
        pcs = (self.pitch_index + codec.lowest) % 12
        self.in_scale = (torch.ones(P, dtype=torch.bool, device=device) if scale is None
                         else torch.isin(pcs, torch.tensor(sorted(scale), device=device)))

    def allowed(self) -> torch.Tensor:
        """``(B, V)`` True where a token may come next."""
        below = self.pitch_index[None, :] < self.last[:, None]  # falling order within a step
        if self.max_poly is not None:
            below &= (self.count < self.max_poly)[:, None]
        onset = below & self.in_scale[None, :]
        if not self.repeat_onsets:
            onset &= ~self.previous
        hold = below & self.previous
        batch = self.last.shape[0]
        specials = torch.zeros(batch, FIRST_PITCH_TOKEN, dtype=torch.bool, device=self.last.device)
        specials[:, STEP] = True
        return torch.cat([specials, onset, hold], dim=1)

    def update(self, tok: torch.Tensor) -> None:
        is_pitch = tok >= FIRST_PITCH_TOKEN
        idx = (tok - FIRST_PITCH_TOKEN).clamp(min=0) % self.P
        self.current[is_pitch, idx[is_pitch]] = True
        self.last = torch.where(is_pitch, idx, self.last)
        self.count += is_pitch.long()
        step = tok == STEP
        if bool(step.any()):
            self.previous[step] = self.current[step]
            self.current[step] = False
            self.last[step] = self.P
            self.count[step] = 0

