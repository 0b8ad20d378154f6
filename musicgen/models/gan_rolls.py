"""Piano-roll bars for the GAN: Scores to rolls and back, and bars cut to the model's canvas.

A roll here is ``(2, T, P)``: channel 0 is "sounding" (pitch row ``p`` sounds at step
``t``), channel 1 is "onset" (a note starts there), over ``P`` pitches from ``lowest``
up. The onset channel tells a re-struck note from a held one; without it, a run of
a pitch over consecutive steps is one held note.

The GAN models *segments* of at most ``bar_steps`` steps (its canvas): a bar that
fits is one segment (shorter bars leave the end of the canvas empty and masked), a
longer bar is cut into equal segments that fit, and very short bars (1/8, 1/16) are
grouped, so every meter has a segment length.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..score import Note, Score

SOUNDING, ONSET = 0, 1


def score_to_rolls(score: Score, lowest: int, n_pitches: int) -> np.ndarray:
    """The pitched notes of ``score`` as a ``(2, T, P)`` bool roll; notes outside the window are left out."""
    rolls = np.zeros((2, score.length, n_pitches), dtype=bool)
    for n in score.notes:
        row = n.pitch - lowest
        if score.tracks[n.track].is_drum or not 0 <= row < n_pitches:
            continue
        rolls[SOUNDING, n.start:n.end, row] = True
        rolls[ONSET, n.start, row] = True
    return rolls


def rolls_to_notes(rolls: np.ndarray, lowest: int, start_step: int = 0, track: int = 0,
                   velocity: int = 80) -> list[Note]:
    """Notes of a ``(2, T, P)`` roll: each run of a sounding pitch is one held note, cut
    where the onset channel marks a re-strike. The inverse of :func:`score_to_rolls`.

    Vectorized: a note begins where its pitch starts to sound or is re-struck while
    sounding; numbering the beginnings down each pitch's column labels every sounding
    step with its note (a silent step always ends one, so each label is one run).
    """
    sounding, onset = rolls[SOUNDING].astype(bool), rolls[ONSET].astype(bool)
    before = np.zeros_like(sounding)
    before[1:] = sounding[:-1]
    begins = sounding & (~before | onset)
    labels = np.cumsum(begins, axis=0)  # (T, P): the note number of each step, per pitch
    steps, rows = np.nonzero(sounding)  # ordered by step
    keys = rows * (int(labels.max()) + 1) + labels[steps, rows]
    _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    return [Note(start_step + int(steps[i]), lowest + int(rows[i]), int(n), velocity, track)
            for i, n in zip(first, counts, strict=True)]


def segment_steps(bar_steps: int, canvas: int) -> int:
    """The segment length the GAN uses for bars of ``bar_steps`` steps on a ``canvas``.

    A bar that fits is one segment; a longer bar is cut into equal parts (the largest
    divisor that fits); a bar shorter than a quarter of the canvas is grouped with
    the next ones.
    """
    if bar_steps > canvas:
        return max(d for d in range(1, canvas + 1) if bar_steps % d == 0)
    if bar_steps < max(1, canvas // 4):
        return bar_steps * (canvas // bar_steps)
    return bar_steps


def cut_segments(rolls: np.ndarray, seg: int, canvas: int) -> np.ndarray:
    """A ``(2, T, P)`` roll as ``(N, 2, canvas, P)`` segments of ``seg`` steps, zero-padded
    at the end of the piece and of each canvas."""
    _, steps, pitches = rolls.shape
    n = -(-steps // seg)
    padded = np.zeros((2, n * seg, pitches), dtype=rolls.dtype)
    padded[:, :steps] = rolls
    out = np.zeros((n, 2, canvas, pitches), dtype=rolls.dtype)
    out[:, :, :seg] = padded.reshape(2, n, seg, pitches).transpose(1, 0, 2, 3)
    return out


def join_segments(segments: np.ndarray, seg: int) -> np.ndarray:
    """``(N, 2, canvas, P)`` segments -> one ``(2, N * seg, P)`` roll (the inverse of :func:`cut_segments`)."""
    n, channels, _, pitches = segments.shape
    return segments[:, :, :seg].transpose(1, 0, 2, 3).reshape(channels, n * seg, pitches)


def octave_shift_into(score: Score, lowest: int, n_pitches: int) -> int:
    """The octave move (in semitones, -36..36) that puts the most pitched notes inside the
    window ``lowest .. lowest + n_pitches - 1``; the smallest such move on a tie."""
    return octave_shift_for([n.pitch for n in score.notes if not score.tracks[n.track].is_drum], lowest, n_pitches)


def octave_shift_for(pitches: Sequence[int], lowest: int, n_pitches: int) -> int:
    """The octave move (in semitones, -36..36) that puts the most of ``pitches`` inside the
    window ``lowest .. lowest + n_pitches - 1``; the smallest such move on a tie (0 without pitches)."""
    array = np.asarray(pitches, dtype=np.int64)
    if not len(array):
        return 0
    best = max(range(-3, 4), key=lambda k: (int(((array + 12 * k >= lowest)
                                                   & (array + 12 * k < lowest + n_pitches)).sum()), -abs(k)))
    return 12 * best
