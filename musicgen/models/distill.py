"""Knowledge distillation: a (smaller) RNN that learns a trained RNN's predictions as well as the music."""

from __future__ import annotations

import torch
from torch import nn

from .events import PAD
from .rnn import RnnFamily


class DistillingRnnFamily(RnnFamily):
    """An RNN that learns from a trained one as well as from the music (knowledge distillation).

    Its training loss is ``(1 - weight)`` times the cross-entropy with the next token plus
    ``weight`` times the KL divergence from the teacher's next-token distribution to its
    own (Hinton, Vinyals & Dean 2015, "Distilling the knowledge in a neural network",
    at temperature 1), both over the tokens the masks allow; validation is the plain
    cross-entropy, so its losses compare with any RNN's. The teacher must read the same
    tokens (the same codec settings); what it makes is a plain ``rnn`` model.
    """

    def __init__(self, teacher: nn.Module, weight: float = 0.5) -> None:
        super().__init__()
        self.teacher, self.weight = teacher.eval(), weight

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, ...],
             device: torch.device) -> tuple[torch.Tensor, dict[str, float]]:
        if not model.training:
            return super().loss(model, batch, device)
        tokens, positions, allowed = (b.to(device) for b in batch)
        inputs, target = (tokens[:, :-1], positions[:, :-1]), tokens[:, 1:]
        logits = model(*inputs)[0].float()
        with torch.no_grad():
            taught = torch.log_softmax(self.teacher(*inputs)[0].float().masked_fill(~allowed, -1e4), dim=-1)
        own = torch.log_softmax(logits.masked_fill(~allowed, -1e4), dim=-1)  # finite: 0 * log 0 stays 0
        real = target != PAD
        kl = (taught.exp() * (taught - own)).sum(-1)[real].mean()
        nll = nn.functional.cross_entropy(logits.masked_fill(~allowed, float("-inf")).reshape(-1, logits.shape[-1]),
                                          target.reshape(-1), ignore_index=PAD)
        return (1 - self.weight) * nll + self.weight * kl, {"nll": float(nll.detach()), "kl": float(kl.detach())}
