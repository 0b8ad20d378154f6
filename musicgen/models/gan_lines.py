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

Shapes: pitch logits ``(B, V, S, P + 1)`` (class 0 is the rest), onset logits
``(B, V, S)``, bars ``(B, 2, S, P)``.
"""

from __future__ import annotations

import torch
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


def line_loss(pitch: torch.Tensor, onset: torch.Tensor, bar: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Nats per bar of redrawing ``bar`` ``(B, 2, S, P)`` from lines: the voices' classes, and the
    onsets of the voices that sound; over the steps of ``mask`` ``(B, S)``."""
    classes, target = line_targets(bar, pitch.shape[1])
    mask = mask[:, None].expand_as(classes)
    ce = nn.functional.cross_entropy(pitch.permute(0, 3, 1, 2), classes, reduction="none")  # (B, V, S)
    strikes = nn.functional.binary_cross_entropy_with_logits(onset, target, reduction="none")
    sings = (classes != REST).float()
    return ((ce + strikes * sings) * mask).sum() / len(bar)


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
                 top_p: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Lines -> a bool merged bar ``(B, 2, S, P)``, voice by voice, as notes.

    A voice sings where its probability of singing (not resting) exceeds
    ``threshold``. It starts a note where it marks an onset or was silent at the step
    before, on a pitch drawn from its pitch distribution there (at ``temperature``
    and ``top_p``, from ``generator``; temperature 0: the likeliest), and holds that
    pitch until it next starts one or rests: so a wavering pitch choice within a
    note does not split it.

    ``prev`` ``(B, 2, S, P)`` is the bar before (its voices at its last step, of
    ``length``, go on into this one); ``allowed`` ``(P,)`` leaves pitch rows out
    (the key lock); ``max_voices`` keeps the top voices and the bass.
    """
    B, V, S, C = pitch_logits.shape
    sings = 1 - pitch_logits.softmax(dim=-1)[..., REST]  # (B, V, S)
    pitches = pitch_logits[..., 1:] if allowed is None else pitch_logits[..., 1:].masked_fill(~allowed, float("-inf"))
    chosen = sample_logits(pitches.reshape(-1, C - 1), temperature, top_p, generator).view(B, V, S)
    classes = torch.where(sings > threshold, chosen + 1, REST)  # (B, V, S)
    if max_voices is not None and max_voices < V:
        kept = [*range(max_voices - 1), V - 1] if max_voices > 1 else [0]
        classes[:, [k for k in range(V) if k not in kept]] = REST
    classes = classes.masked_fill(torch.arange(S, device=classes.device)[None, None] >= length[:, None, None], REST)
    last = torch.full_like(classes[..., 0], REST)  # (B, V): each voice's class at the step before
    if prev is not None:
        final = prev[torch.arange(B), :, (length - 1).clamp(min=0)]  # (B, 2, P): the bar before's last step
        last = line_targets(final[:, :, None], V)[0][..., 0]
        if allowed is not None:
            last = torch.where(nn.functional.pad(allowed, (1, 0))[last], last, REST)
    singing = classes != REST  # (B, V, S)
    sang = torch.cat([(last != REST)[..., None], singing[..., :-1]], dim=-1)  # at the step before
    starts = singing & ((onset_logits > 0) | ~sang)
    begun = torch.where(starts, torch.arange(S, device=classes.device), -1).cummax(dim=-1).values  # the note's start
    held = torch.where(begun >= 0, classes.gather(-1, begun.clamp(min=0)), last[..., None])
    classes = torch.where(singing, held, REST)
    sings = nn.functional.one_hot(classes, C)[..., 1:].bool()  # (B, V, S, P)
    sounding = sings.any(dim=1)  # (B, S, P)
    before = torch.zeros_like(sounding)
    before[:, 1:] = sounding[:, :-1]
    if prev is not None:
        before[:, 0] = final[:, 0] > 0.5
    struck = (sings & (onset_logits > 0)[..., None]).any(dim=1)
    return torch.stack([sounding, sounding & (~before | struck)], dim=1)
