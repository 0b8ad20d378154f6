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
voice leading (``gan_leading.VoiceLeading``), a small recurrent network reads the bar as it
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

from typing import TYPE_CHECKING

import torch
from torch import nn

from ..sampling import sample_logits

if TYPE_CHECKING:
    from .gan_leading import VoiceLeading

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
    step's voices weighed by what was drawn before it (``gan_leading.VoiceLeading``), and a
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
        return leading.draw(pitch_logits, onset_logits, pitches, may_sing, last, last_struck, prev, threshold,
                            temperature, top_p, generator)
    singing = may_sing & (1 - pitch_logits.softmax(dim=-1)[..., REST] > threshold)  # (B, V, S)
    sang = torch.cat([(last != REST)[..., None], singing[..., :-1]], dim=-1)  # at the step before
    strikes = onset_logits > 0
    starts = singing & (strikes | ~sang)
    chosen = sample_logits(pitches.reshape(-1, C - 1), temperature, top_p, generator).view(B, V, S) + 1
    begun = torch.where(starts, torch.arange(S, device=starts.device), -1).cummax(dim=-1).values  # the note's start
    held = torch.where(begun >= 0, chosen.gather(-1, begun.clamp(min=0)), last[..., None])
    return torch.where(singing, held, REST), strikes
