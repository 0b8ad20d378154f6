"""The RNN's sampling step, fast: a trained ``RnnModel``'s weights run one token at a time.

Sampling calls the network once per token, for a batch of a few variations, so a
step is a handful of tiny matrix products and the cost of each *call* dominates:
``nn.LSTM`` for one token pays its whole sequence machinery (oneDNN on CPUs) every
time. :class:`RnnStepper` does the same arithmetic in as few calls as there can be,
into buffers made once:

- layer 1's input projection is a table lookup: ``embedding @ W_ih + biases`` for
  every (token, bar position) pair, ``(V * n_positions, 4H)``, made when the stepper
  is made, so layer 1 is one row gather plus one ``h @ W_hh`` product;
- every later layer is one fused product ``[h_below, h_own] @ [W_ih; W_hh]`` over a
  single buffer holding all layers' hidden states side by side, so no concatenation
  or copy is needed between layers;
- the gates are reordered to (input, forget, output, cell) once, so one in-place
  sigmoid and one in-place tanh cover them;
- the head writes the logits into a buffer of its own.

The logits equal ``nn.LSTM``'s to float rounding (the tests hold them to 1e-5), so
sampling with the same random seed gives the same music. Nothing is shared between
steppers: each generation call makes its own, and one loaded model can serve many
threads at once.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["RnnStepper"]

# The combined (token, position) table is used while it stays this small; beyond it, two gathers.
MAX_TABLE_BYTES = 64 * 2**20


class RnnStepper:
    """One token in, next-token logits out, for a batch, with the state kept inside.

    Parameters
    ----------
    model
        A trained ``RnnModel`` (``tokens`` and ``positions`` embeddings, a
        unidirectional ``lstm`` with biases and ``batch_first``, a ``head``). Read
        once: later changes to its weights are not seen.
    batch
        Sequences stepped together.

    Examples
    --------
    >>> stepper = RnnStepper(model, batch=4)          # doctest: +SKIP
    >>> stepper.load_state(state)                      # (h, c), each (L, B, H)
    >>> logits = stepper.step(tokens, positions)       # (B,) each -> (B, V)
    """

    def __init__(self, model: nn.Module, batch: int) -> None:
        lstm = model.lstm
        if lstm.proj_size or lstm.bidirectional or not lstm.bias or not lstm.batch_first:
            raise ValueError("RnnStepper runs a one-way LSTM with biases and batch_first, as RnnModel builds it")
        if batch < 1:
            raise ValueError("RnnStepper needs a batch of at least one sequence")
        H, L = lstm.hidden_size, lstm.num_layers
        self.batch, self.hidden, self.layers = batch, H, L
        weight = lstm.weight_hh_l0
        dev, dtype = weight.device, weight.dtype
        # Buffers are ordinary tensors even when made inside inference mode, so that the
        # stepper can be used both inside and outside it.
        with torch.inference_mode(False), torch.no_grad():
            order = torch.cat([torch.arange(0, 2 * H), torch.arange(3 * H, 4 * H), torch.arange(2 * H, 3 * H)])
            order = order.to(dev)  # gate rows (i, f, g, o) -> (i, f, o, g)

            def param(name: str) -> torch.Tensor:
                return getattr(lstm, name).detach()[order]

            self.vocab, self.n_positions = model.tokens.num_embeddings, model.positions.num_embeddings
            w_ih0, bias0 = param("weight_ih_l0"), param("bias_ih_l0") + param("bias_hh_l0")
            table_bytes = self.vocab * self.n_positions * 4 * H * weight.element_size()
            self.combined = self.n_positions == 1 or table_bytes <= MAX_TABLE_BYTES
            if self.combined:  # row token * n_positions + position: every input the model can read
                pairs = torch.arange(self.vocab * self.n_positions, device=dev)
                vectors = _embed(model, pairs // self.n_positions, pairs % self.n_positions)  # (V * n_pos, E)
                self.table = (vectors @ w_ih0.T + bias0).contiguous()  # (V * n_pos, 4H)
            else:  # the input is a token's vector plus a position's
                token_vectors, position_vectors = _separate(model, self.vocab, self.n_positions, dev)
                self.table = (token_vectors @ w_ih0.T + bias0).contiguous()  # (V, 4H)
                self.position_table = (position_vectors @ w_ih0.T).contiguous()  # (n_pos, 4H)
                self.position_rows = torch.empty(batch, 4 * H, device=dev, dtype=dtype)
            self.w_hh0 = param("weight_hh_l0").T.contiguous()  # (H, 4H)
            self.w = [None] + [torch.cat([param(f"weight_ih_l{k}"), param(f"weight_hh_l{k}")], dim=1).T.contiguous()
                               for k in range(1, L)]  # (2H, 4H): rows for [h_below, h_own]
            self.b = [None] + [(param(f"bias_ih_l{k}") + param(f"bias_hh_l{k}")).contiguous() for k in range(1, L)]
            self.head_w, self.head_b = _output_layer(model, H, dev, dtype)  # (H, V), (V,)
            self.hs = torch.zeros(batch, L * H, device=dev, dtype=dtype)  # [h_1 | h_2 | ... | h_L]
            self.c = torch.zeros(L, batch, H, device=dev, dtype=dtype)
            self.gates = torch.empty(L, batch, 4 * H, device=dev, dtype=dtype)
            self.tanh_c = torch.empty(batch, H, device=dev, dtype=dtype)
            self.logits = torch.empty(batch, self.head_w.shape[1], device=dev, dtype=dtype)
            self.index = torch.empty(batch, dtype=torch.long, device=dev)
        # Views made once: slicing costs a call too.
        self._layers = []
        for k in range(L):
            g = self.gates[k]
            self._layers.append((
                g, self.hs[:, max(k - 1, 0) * H:(k + 1) * H],  # the layer's matmul input
                g[:, :3 * H], g[:, 3 * H:],  # sigmoid part, tanh part
                g[:, :H], g[:, H:2 * H], g[:, 2 * H:3 * H], g[:, 3 * H:],  # i, f, o, g
                self.c[k], self.hs[:, k * H:(k + 1) * H],
            ))
        self._top = self.hs[:, (L - 1) * H:]

    def load_state(self, state: tuple[torch.Tensor, torch.Tensor]) -> None:
        """Start from ``(h, c)``, each ``(L, B, H)`` as ``nn.LSTM`` returns it (``B`` may be 1: broadcast)."""
        h, c = state
        with torch.inference_mode(False), torch.no_grad():
            for k in range(self.layers):
                self._layers[k][9].copy_(h[k].expand(self.batch, -1))
            self.c.copy_(c.expand(-1, self.batch, -1))

    def state(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A copy of the state, ``(h, c)`` each ``(L, B, H)``."""
        h = self.hs.reshape(self.batch, self.layers, self.hidden).transpose(0, 1).clone()
        return h, self.c.clone()

    def step(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Advance every sequence by one token.

        Parameters
        ----------
        tokens, positions
            ``(B,)`` long: the token each sequence read and its bar position.

        Returns
        -------
        torch.Tensor
            The next-token logits ``(B, V)``: a buffer the next call overwrites.
        """
        g0 = self.gates[0]
        if self.combined:
            if self.n_positions > 1:
                torch.add(positions, tokens, alpha=self.n_positions, out=self.index)
                torch.index_select(self.table, 0, self.index, out=g0)
            else:
                torch.index_select(self.table, 0, tokens, out=g0)
        else:
            torch.index_select(self.table, 0, tokens, out=g0)
            torch.index_select(self.position_table, 0, positions, out=self.position_rows)
            g0.add_(self.position_rows)
        tanh_c = self.tanh_c
        for k, (g, x, sig, tan, i, f, o, cell, c, h) in enumerate(self._layers):
            if k == 0:
                g.addmm_(x, self.w_hh0)  # (B, H) @ (H, 4H)
            else:
                torch.addmm(self.b[k], x, self.w[k], out=g)  # (B, 2H) @ (2H, 4H)
            sig.sigmoid_()
            tan.tanh_()
            c.mul_(f).addcmul_(i, cell)
            torch.tanh(c, out=tanh_c)
            torch.mul(o, tanh_c, out=h)
        return torch.addmm(self.head_b, self._top, self.head_w, out=self.logits)  # (B, H) @ (H, V)


def _embed(model: nn.Module, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """The LSTM's input vectors for tokens at bar positions (``model.embed`` when the model has one)."""
    if hasattr(model, "embed"):
        return model.embed(tokens, positions).detach()
    return (model.tokens(tokens) + model.positions(positions)).detach()


def _separate(model: nn.Module, vocab: int, n_positions: int,
              device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Token vectors ``(V, E)`` and position vectors ``(n_pos, E)`` whose sums are the input vectors.

    Raises
    ------
    ValueError
        When the model's input is not a token part plus a position part.
    """
    tokens, positions = torch.arange(vocab, device=device), torch.arange(n_positions, device=device)
    zero_t, zero_p = torch.zeros_like(tokens), torch.zeros_like(positions)
    token_vectors = _embed(model, tokens, zero_t)
    position_vectors = _embed(model, zero_p, positions) - _embed(model, zero_p[:1], zero_p[:1])
    probe_t, probe_p = tokens[::7][:16], positions.flip(0).repeat(16)[: len(tokens[::7][:16])]
    if not torch.allclose(_embed(model, probe_t, probe_p), token_vectors[probe_t] + position_vectors[probe_p],
                          atol=1e-5, rtol=1e-5):
        raise ValueError("RnnStepper needs the input to be a token's vector plus its position's")
    return token_vectors, position_vectors


def _output_layer(model: nn.Module, hidden: int, device: torch.device,
                  dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """The output layer as one matrix ``(H, V)`` and bias ``(V,)`` (``model.logits`` when the model has one).

    Raises
    ------
    ValueError
        When the output is not an affine function of the top hidden state.
    """
    if not hasattr(model, "logits"):
        return model.head.weight.detach().T.contiguous(), model.head.bias.detach().clone()
    zero = torch.zeros(1, hidden, device=device, dtype=dtype)
    bias = model.logits(zero).detach()[0]
    weight = (model.logits(torch.eye(hidden, device=device, dtype=dtype)).detach() - bias).contiguous()
    probe = torch.randn(3, hidden, device=device, dtype=dtype, generator=torch.Generator(device=device.type
                                                                                          ).manual_seed(0))
    if not torch.allclose(model.logits(probe).detach(), probe @ weight + bias, atol=1e-4, rtol=1e-4):
        raise ValueError("RnnStepper needs the output layer to be affine in the top hidden state")
    return weight, bias.clone()
