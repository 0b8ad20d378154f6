"""The polyphonic event encoding the RNN reads and writes.

Each grid step lists the pitches sounding in it from the highest down, each as
ONSET (a note starts here) or HOLD (a note from the previous step goes on), then a
STEP token ends the step. Onsets and holds stay apart, so a repeated note is two
notes, and listing the top voice first lets a melody be held fixed while a model
writes the voices under it.

Token ids (``P = n_pitches``)::

    0 PAD   1 BOS   2 STEP   3..3+P-1 ONSET(pitch)   3+P..3+2P-1 HOLD(pitch)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..score import Note, Score

PAD, BOS, STEP = 0, 1, 2
FIRST_PITCH_TOKEN = 3


@dataclass(frozen=True)
class EventCodec:
    """Converts Scores to token sequences and back, for one pitch range."""

    lowest: int = 21  # MIDI pitch of the first pitch token (21 = A0, the piano's lowest)
    n_pitches: int = 88  # pitch tokens per kind (88 = the piano's range)

    @property
    def vocab_size(self) -> int:
        return FIRST_PITCH_TOKEN + 2 * self.n_pitches

    def onset(self, pitch: int) -> int:
        return FIRST_PITCH_TOKEN + pitch - self.lowest

    def hold(self, pitch: int) -> int:
        return FIRST_PITCH_TOKEN + self.n_pitches + pitch - self.lowest

    def in_range(self, pitch: int) -> bool:
        return self.lowest <= pitch < self.lowest + self.n_pitches

    def encode(self, score: Score, bos: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Tokens ``(N,)`` and the grid step each token belongs to ``(N,)``.

        Drum tracks and pitches outside the range are left out.
        """
        onsets: dict[int, set[int]] = {}
        sounding: dict[int, set[int]] = {}
        for n in score.notes:
            if score.tracks[n.track].is_drum or not self.in_range(n.pitch):
                continue
            onsets.setdefault(n.start, set()).add(n.pitch)
            for t in range(n.start, n.end):
                sounding.setdefault(t, set()).add(n.pitch)
        tokens, steps = ([BOS], [0]) if bos else ([], [])
        for t in range(score.length):
            for pitch in sorted(sounding.get(t, ()), reverse=True):
                tokens.append(self.onset(pitch) if pitch in onsets.get(t, ()) else self.hold(pitch))
                steps.append(t)
            tokens.append(STEP)
            steps.append(t)
        return np.array(tokens, dtype=np.int64), np.array(steps, dtype=np.int64)

    def decode(self, tokens: np.ndarray | list[int], start_step: int = 0, velocity: int = 80,
               track: int = 0) -> list[Note]:
        """Notes from tokens; the inverse of :meth:`encode` on the grid.

        A HOLD of a pitch that was not sounding starts a note, so any sequence decodes.
        """
        notes: list[Note] = []
        open_at: dict[int, int] = {}  # pitch -> onset step
        step, seen = start_step, set()
        P = self.n_pitches

        def close(pitch: int, end: int) -> None:
            begin = open_at.pop(pitch)
            notes.append(Note(begin, pitch, max(1, end - begin), velocity, track))

        for tok in (int(t) for t in tokens):
            if tok == STEP:
                for pitch in [p for p in open_at if p not in seen]:
                    close(pitch, step)
                step, seen = step + 1, set()
            elif tok >= FIRST_PITCH_TOKEN:
                is_hold = tok >= FIRST_PITCH_TOKEN + P
                pitch = self.lowest + (tok - FIRST_PITCH_TOKEN) % P
                if not is_hold and pitch in open_at:
                    close(pitch, step)
                if pitch not in open_at:
                    open_at[pitch] = step
                seen.add(pitch)
        for pitch in list(open_at):
            close(pitch, step)
        return notes


def structure(tokens: np.ndarray, n_pitches: int) -> tuple[np.ndarray, np.ndarray]:
    """What constrains each next token of a sequence, for the masks.

    Returns ``floor`` ``(N,)`` and ``previous`` ``(N, P)``: the token at ``j`` may be a
    pitch below ``floor[j]`` (the last pitch of its step so far, or ``P`` at the start
    of a step), and a HOLD only of a pitch in ``previous[j]`` (the step before).
    Entry 0 (the BOS) constrains nothing and is never predicted.
    """
    P = n_pitches
    is_pitch = tokens >= FIRST_PITCH_TOKEN
    index = np.where(is_pitch, (tokens - FIRST_PITCH_TOKEN) % P, P)
    step_of = np.concatenate([[0], np.cumsum(tokens == STEP)[:-1]])  # steps completed before each token
    sets = np.zeros((int(step_of.max()) + 2, P), dtype=bool)
    sets[step_of[is_pitch], index[is_pitch]] = True
    previous = np.zeros((len(tokens), P), dtype=bool)
    has_previous = step_of >= 1
    previous[has_previous] = sets[step_of[has_previous] - 1]
    floor = np.concatenate([[P], index[:-1]])
    return floor, previous


def allowed_tokens(floor: np.ndarray, previous: np.ndarray, repeat_onsets: bool) -> np.ndarray:
    """``(N, V)`` True where a token may come next, from :func:`structure`.

    Notes of a step come in falling pitch order; a HOLD only continues a pitch of the
    step before; without ``repeat_onsets`` (frame data, where a repeated note cannot
    be told from a held one) an ONSET only starts a pitch that was silent. Then
    every frame has exactly one spelling, and the product of the token
    probabilities is a proper distribution over frames.
    """
    P = previous.shape[1]
    below = np.arange(P)[None, :] < floor[:, None]
    onset = below if repeat_onsets else below & ~previous
    specials = np.zeros((len(floor), FIRST_PITCH_TOKEN), dtype=bool)
    specials[:, STEP] = True
    return np.concatenate([specials, onset, below & previous], axis=1)
