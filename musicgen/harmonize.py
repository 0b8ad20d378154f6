"""Harmonize a melody: four-part harmony under a tune, the tune kept exactly.

    takes = harmonize(model, melody, SampleParams(n_variations=4, random_seed=0))

Each take is the melody, note for note as given (pitches, rhythm, velocities), on
its own track, with alto, tenor and bass written under it by the model, on three
more tracks. The key is estimated from the melody (:func:`melody_key`; a
key-normalized model such as ``rnn-jsb`` hears it in C major or C minor and the
voices are moved back). At every step where the melody sounds the model writes
exactly three notes below it, the k-th highest within the k-th voice's range
(:data:`VOICE_RANGES`); where the melody rests the choir rests with it. How the
RNN does it (the melody forced as the top note of every step, a particle filter
that weighs each harmony by how well it leads into the melody's next notes) is in
``models/rnn_constraints.py``; the GAN (each bar's latent inverted with the melody's
piano-roll rows held, the voices taken greedily from the top down) in
``models/gan_constraints.py``.

On a model whose grid is coarser than the melody's (``rnn-jsb`` thinks in quarter
notes) the model hears, on each beat, the note sounding on the beat (or the longest
one in the beat when the beat starts with a rest), as a chorale's harmony moves
on the beat; the quick notes between beats are passing notes over the chord. The
voices stay below every melody note of their beat, and the melody itself is
written out exactly as given.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from .constraints import ConstraintError, Plan, assemble, voice_floors
from .errors import MusicgenError
from .lock import Lock, free_steps, locked_notes
from .sampling import SampleParams
from .score import _MAJOR_PROFILE, _MINOR_PROFILE, Key, Note, Score, Track, pitch_class_histogram, pitch_name

if TYPE_CHECKING:
    from .generate import LoadedModel


class MelodyError(MusicgenError, ValueError):
    """A melody that cannot be harmonized; the message says what to change."""


# Concert-pitch ranges of the four voices: where 99% of each part's notes lie (0.5th to
# 99.5th percentile) in music21's 348 four-part Bach chorales; highest and lowest
# soprano notes there: A3 and A5.
VOICE_RANGES: dict[str, tuple[int, int]] = {"Soprano": (62, 79), "Alto": (57, 72), "Tenor": (51, 67),
                                            "Bass": (38, 61)}
LOWER_VOICES = ("Alto", "Tenor", "Bass")
HIGHEST_MELODY = 81  # A5, the highest soprano note in the chorales
MAX_MELODY_BARS = 64
KEY_MARGIN = 0.3  # see melody_key; chosen on the JSB train and valid sopranos


def lowest_melody_note() -> int:
    """The lowest melody pitch with alto, tenor and bass still in range under it."""
    return voice_floors([VOICE_RANGES[v] for v in LOWER_VOICES])[0] + 1


def _where(score: Score, step: int) -> str:
    """``"bar 3, beat 2"`` for a step."""
    bar, within = divmod(step, score.steps_per_bar)
    return f"bar {bar + 1}, beat {within // score.steps_per_beat + 1}"


def melody_track(score: Score) -> int:
    """The track that carries the tune: the only pitched one, else the highest sounding one."""
    pitched = pitched_tracks(score)
    if not pitched:
        raise MelodyError("There is no melody here: the file has no pitched notes. Pick a file with a tune in it.")
    return max(pitched, key=lambda i: float(np.mean([n.pitch for n in score.notes if n.track == i])))


def extract_melody(score: Score, track: int | None = None) -> Score:
    """The melody to harmonize: one track of ``score`` (the top voice when not given), checked.

    Returns a Score with that track only (track 0), the same grid, tempo, meter and length.

    Raises
    ------
    MelodyError
        No notes, chords (two notes sounding at once), too long, or a note out of
        reach of a choir's top voice; the message says what to do.
    """
    if track is None:
        track = melody_track(score)
    elif not 0 <= track < len(score.tracks) or score.tracks[track].is_drum:
        raise MelodyError(f"There is no pitched track {track}: this file has tracks 0 to {len(score.tracks) - 1}.")
    melody = score.select_tracks([track])
    check_melody(melody)
    return melody


def check_melody(melody: Score) -> None:
    """Raise :class:`MelodyError` unless ``melody`` is one voice a choir's soprano could sing over harmony."""
    notes = [n for n in melody.notes if not melody.tracks[n.track].is_drum]
    if not notes:
        raise MelodyError("There is no melody here: the file has no pitched notes. Pick a file with a tune in it.")
    ordered = sorted(notes)
    grace = melody.steps_per_beat // 4  # a sixteenth note: grace notes and legato overlaps are no chords
    for before, after in itertools.pairwise(ordered):
        if min(before.end, after.end) - after.start > grace:
            raise MelodyError(
                f"The melody has chords: {pitch_name(before.pitch)} and {pitch_name(after.pitch)} sound together "
                f"at {_where(melody, after.start)}. Harmonize takes one voice: pick the track with the tune, "
                "or remove the other notes.")
    if melody.n_bars > MAX_MELODY_BARS:
        raise MelodyError(f"The melody is {melody.n_bars} bars long; harmonize at most {MAX_MELODY_BARS} bars "
                          "at a time (crop it first).")
    low, high = min(notes, key=lambda n: n.pitch), max(notes, key=lambda n: n.pitch)
    floor = lowest_melody_note()
    if high.pitch - low.pitch > HIGHEST_MELODY - floor:
        raise MelodyError(
            f"The melody spans {pitch_name(low.pitch)} to {pitch_name(high.pitch)}, wider than a choir's top voice "
            f"sings over alto, tenor and bass ({pitch_name(floor)} to {pitch_name(HIGHEST_MELODY)}). "
            "Harmonize a part of it, or a simpler version of the tune.")
    if low.pitch < floor:
        raise MelodyError(
            f"The melody goes down to {pitch_name(low.pitch)} ({_where(melody, low.start)}), too low for alto, tenor "
            f"and bass to fit under it (the lowest that works is {pitch_name(floor)}). "
            f"{_move_hint(low.pitch, high.pitch, floor)}")
    if high.pitch > HIGHEST_MELODY:
        raise MelodyError(
            f"The melody goes up to {pitch_name(high.pitch)} ({_where(melody, high.start)}), above any choir voice "
            f"(the sopranos of Bach's chorales reach {pitch_name(HIGHEST_MELODY)}). "
            f"{_move_hint(low.pitch, high.pitch, floor)}")


def _move_hint(low: int, high: int, floor: int) -> str:
    """How to move a melody that fits the range in width into it: by octaves if that works."""
    for octaves in (1, -1, 2, -2):
        if floor <= low + 12 * octaves and high + 12 * octaves <= HIGHEST_MELODY:
            direction = "up" if octaves > 0 else "down"
            return f"Move it {direction} {'an octave' if abs(octaves) == 1 else 'two octaves'} and try again."
    semitones = floor - low if low < floor else HIGHEST_MELODY - high
    plural = "s" if abs(semitones) > 1 else ""
    return f"Transpose it {'up' if semitones > 0 else 'down'} {abs(semitones)} semitone{plural} and try again."


def melody_key(melody: Score) -> Key:
    """The key of a tune: Krumhansl-Schmuckler, then the last note as the tonic where it can be.

    Of the keys whose profile fits the melody within :data:`KEY_MARGIN` of the best
    fit, the best one whose tonic is the melody's last note (tunes end on their
    tonic), else the best fit. On the JSB chorales' sopranos (train and valid) this
    finds the chorale's tonic for 269 of 305; the plain estimate for 208.
    """
    hist = pitch_class_histogram(melody)
    if not hist.any():
        raise MelodyError("There is no melody here: the file has no pitched notes. Pick a file with a tune in it.")
    fits = []
    for mode, profile in (("major", _MAJOR_PROFILE), ("minor", _MINOR_PROFILE)):
        for tonic in range(12):
            r = 0.0 if hist.std() == 0 else float(np.corrcoef(hist, np.roll(profile, tonic))[0, 1])
            fits.append(Key(tonic, mode, r))
    fits.sort(key=lambda k: -k.correlation)
    last = max((n for n in melody.notes if not melody.tracks[n.track].is_drum), key=lambda n: (n.end, n.start)).pitch
    return next((k for k in fits if k.tonic == last % 12 and k.correlation >= fits[0].correlation - KEY_MARGIN),
                fits[0])


def harmonize_plan(melody: Score) -> Plan:
    """The plan for a checked one-track melody: it is fixed, the voices go under it."""
    ceiling = np.full(melody.length, 128, dtype=np.int64)
    for n in melody.notes:
        ceiling[n.start:n.end] = np.minimum(ceiling[n.start:n.end], n.pitch)
    ceiling[ceiling == 128] = 0  # nothing under a rest
    return Plan(frame=melody, fixed=melody.notes, free=np.ones(melody.length, dtype=bool), ceiling=ceiling,
                voices=tuple(VOICE_RANGES[v] for v in LOWER_VOICES), reference=melody, concert=True,
                key=melody_key(melody), heard=tuple(one_voice(melody.notes)))


def one_voice(notes: Sequence[Note]) -> list[Note]:
    """A melody as one voice, for the model to hear: of two notes that start together the longer,
    and a note that runs into the next one cut where the next begins (grace notes, legato)."""
    out: list[Note] = []
    for n in sorted(notes, key=lambda n: (n.start, -n.duration)):
        if out and out[-1].start == n.start:
            continue
        if out and out[-1].end > n.start:
            out[-1] = replace(out[-1], duration=n.start - out[-1].start)
        out.append(n)
    return out


def voice_tracks(melody: Score) -> tuple[Track, ...]:
    """The three new tracks, in the melody's instrument."""
    program = melody.tracks[0].program
    return tuple(Track(name, program) for name in LOWER_VOICES)


def harmonize(model: LoadedModel, melody: Score, params: SampleParams | None = None,
              track: int | None = None) -> list[Score]:
    """``params.n_variations`` four-part harmonizations of a melody, as one batch.

    Parameters
    ----------
    model
        A loaded model whose family can write around fixed notes (the RNN, the GAN).
    melody
        A score holding the tune: one voice, or the top voice (or ``track``) of a file.
    params
        Temperature, top-p, variations, random seed and key lock; ``bars`` is not
        used (the harmonization is as long as the melody).

    Returns
    -------
    list[Score]
        Each: the melody's track unchanged (track 0), then Alto, Tenor and Bass.

    Raises
    ------
    MelodyError
        A melody that cannot be harmonized (see :func:`extract_melody`).
    NotSupported
        The model's family cannot harmonize.
    """
    params = params or SampleParams()
    melody = extract_melody(melody, track)
    plan = harmonize_plan(melody)
    sampled = model.family.sample_constrained(model.network, model.config, plan, params, model.device)
    extra = voice_tracks(melody)
    voices = [(1 + k, float(np.mean(VOICE_RANGES[v]))) for k, v in enumerate(LOWER_VOICES)]
    return [assemble(plan, new, voices, extra) for new in sampled]


def can_harmonize(family_name: str) -> bool:
    """Whether models of this family can harmonize and lock (the family implements ``sample_constrained``)."""
    from .models.base import ModelFamily
    from .models.registry import get_family

    try:
        family = get_family(family_name)
    except MusicgenError:
        return False
    return type(family).sample_constrained is not ModelFamily.sample_constrained


def pitched_tracks(score: Score) -> list[int]:
    """The tracks with pitched notes: where a melody can be."""
    return [i for i, t in enumerate(score.tracks) if not t.is_drum and any(n.track == i for n in score.notes)]


def reharmonize(model: LoadedModel, take: Score, lock: Lock, params: SampleParams | None = None) -> list[Score]:
    """Rewrite part of a harmonization from :func:`harmonize`, as one batch.

    The melody (track 0) and what ``lock`` keeps (bars counted from 1; voices as
    tracks 1 alto, 2 tenor, 3 bass) stay bit for bit; the open voices are written
    anew in the open bars, under the melody and in their ranges, around the kept
    notes.

    Raises
    ------
    ConstraintError
        Not a harmonization, a bar or voice that is not there, or nothing left open.
    """
    params = params or SampleParams()
    if len(take.tracks) != 1 + len(LOWER_VOICES) or tuple(t.name for t in take.tracks[1:]) != LOWER_VOICES:
        raise ConstraintError("This is not a harmonization (a melody with Alto, Tenor and Bass tracks): "
                              "harmonize a melody first.")
    lock = Lock(bars=lock.bars, tracks=(0, *lock.tracks))
    open_voices = [k for k in range(1, 1 + len(LOWER_VOICES)) if k not in lock.tracks]
    free = free_steps(take, lock, open_voices)
    melody = replace(take.select_tracks([0]), length=take.length)
    check_melody(melody)
    ranges = [VOICE_RANGES[LOWER_VOICES[k - 1]] for k in open_voices]
    fixed = tuple(locked_notes(take, lock))
    busy = np.zeros((take.length, len(open_voices)), dtype=bool)  # a kept note rings on into an open bar
    for n in fixed:
        if n.track in open_voices:
            busy[n.start:n.end, open_voices.index(n.track)] = True
    plan = harmonize_plan(melody)
    plan = replace(plan, frame=take, fixed=fixed, free=free, voices=tuple(ranges), busy=busy,
                   heard=plan.heard + tuple(n for n in fixed if n.track != 0))
    sampled = model.family.sample_constrained(model.network, model.config, plan, params, model.device)
    voices = [(k, float(np.mean(r))) for k, r in zip(open_voices, ranges, strict=True)]
    return [assemble(plan, new, voices) for new in sampled]

