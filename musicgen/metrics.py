"""Objective musical metrics: small, pure, typed functions of one Score.

Each metric follows a published definition (cited in its docstring) and reads only
the pitched notes (drum tracks are left out). Time is the Score's step grid: a
*beat* is a quarter note (``steps_per_beat`` steps, as in muspy), a *bar* is
``steps_per_bar`` steps of the Score's meter. A metric that is undefined for a
piece (an average over no notes, a consistency over fewer than two bars) is
``nan``; counts of nothing are 0.

Sources:

- Yang & Lerch (2018), "On the evaluation of generative models in music", Neural
  Computing and Applications 32 (2020): pitch count, pitch range, average pitch
  interval, note-length histogram, pitch-class transition matrix, overlapping area.
- Dong, Hsiao, Yang & Yang (2018), "MuseGAN: Multi-track sequential generative
  adversarial networks for symbolic music generation and accompaniment", AAAI:
  empty bars (EB), used pitch classes per bar (UPC), qualified notes (QN).
- Dong, Chen, Dubnov, McAuley & Berg-Kirkpatrick (2020), "MusPy: A toolkit for
  symbolic music generation", ISMIR: empty-beat rate, polyphony, pitch-class
  entropy, scale consistency, groove consistency, as implemented there.
- Mogren (2016), "C-RNN-GAN", NIPS workshop on constructive machine learning:
  scale consistency, polyphony.
- Wu & Yang (2020), "The Jazz Transformer on the front line", ISMIR: pitch-class
  entropy, groove consistency.
- Uitdenbogerd & Zobel (1999), "Melodic matching techniques for large music
  databases", ACM Multimedia: the skyline melody (:func:`top_voice`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from .score import Note, Score

__all__ = [
    "BAR_METRICS", "FEATURES", "Feature", "average_interval", "bar_metrics", "empty_bar_rate",
    "empty_beat_rate", "feature_vector", "groove_consistency", "in_scale_cells", "in_scale_rate", "mean_note_length",
    "mean_pitch",
    "n_pitch_classes_used", "n_pitches_used", "note_density", "note_length_histogram",
    "pitch_class_entropy", "pitch_class_transition_matrix", "pitch_range", "polyphony",
    "qualified_note_rate", "scale_consistency", "top_voice", "used_pitch_classes_per_bar",
]

NAN = float("nan")
_DIATONIC = (0, 2, 4, 5, 7, 9, 11)  # the major scale; natural minor is a rotation of the same set


def _pitched(score: Score) -> list[Note]:
    return [n for n in score.notes if not score.tracks[n.track].is_drum]


def _pitched_roll(score: Score) -> np.ndarray:
    """``(T, 128)`` bool: which pitched notes sound at each step."""
    return score.piano_roll(tracks=[i for i, t in enumerate(score.tracks) if not t.is_drum])


def _chunks(roll: np.ndarray, size: int) -> np.ndarray:
    """``(T, 128)`` -> ``(ceil(T / size), size, 128)``, the last chunk padded with silence."""
    n = -(-roll.shape[0] // size)
    padded = np.zeros((n * size, roll.shape[1]), dtype=roll.dtype)
    padded[: roll.shape[0]] = roll
    return padded.reshape(n, size, roll.shape[1])


# ----------------------------------------------------------------- pitch
def pitch_range(score: Score) -> int:
    """Highest minus lowest pitch in semitones (Yang & Lerch's PR; muspy); 0 without notes."""
    pitches = [n.pitch for n in _pitched(score)]
    return max(pitches) - min(pitches) if pitches else 0


def n_pitches_used(score: Score) -> int:
    """How many different MIDI pitches occur (Yang & Lerch's pitch count PC; muspy)."""
    return len({n.pitch for n in _pitched(score)})


def n_pitch_classes_used(score: Score) -> int:
    """How many of the 12 pitch classes occur (muspy's ``n_pitch_classes_used``)."""
    return len({n.pitch % 12 for n in _pitched(score)})


def mean_pitch(score: Score) -> float:
    """Mean MIDI pitch of the notes (the register; 60 is middle C)."""
    pitches = [n.pitch for n in _pitched(score)]
    return float(np.mean(pitches)) if pitches else NAN


def pitch_class_entropy(score: Score) -> float:
    """Shannon entropy in bits of the pitch-class histogram of the notes (0..log2 12).

    Wu & Yang (2020); muspy's ``pitch_class_entropy``: each note counts once,
    whatever its length. Low values mean a few pitch classes dominate (tonal
    music scores about 2.7-3.3); 3.58 is all twelve equally often.
    """
    counts = np.bincount([n.pitch % 12 for n in _pitched(score)], minlength=12).astype(float)
    if not counts.sum():
        return NAN
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def scale_consistency(score: Score) -> float:
    """The share of notes in the best-fitting major or minor scale (0..1).

    Mogren (2016); muspy's ``scale_consistency``: the largest in-scale rate over
    the 24 major and natural-minor scales (each note counts once). Bach's raised
    leading tones in minor and folk tunes' modal inflections score below 1.
    """
    counts = np.bincount([n.pitch % 12 for n in _pitched(score)], minlength=12)
    total = counts.sum()
    if not total:
        return NAN
    best = max(sum(counts[(tonic + s) % 12] for s in _DIATONIC) for tonic in range(12))
    return float(best / total)


# ----------------------------------------------------------------- texture and rhythm
def polyphony(score: Score) -> float:
    """Mean number of pitches sounding per step, over the steps where any pitch sounds.

    muspy's ``polyphony`` (after Mogren 2016): 1.0 for a melody, about 4 for a
    four-part chorale.
    """
    counts = _pitched_roll(score).sum(axis=1)
    sounding = counts[counts > 0]
    return float(sounding.mean()) if sounding.size else NAN


def empty_beat_rate(score: Score) -> float:
    """The share of beats (quarter notes) in which no pitch sounds.

    muspy's ``empty_beat_rate`` (and Pypianoroll's): a beat is empty when no note
    is played or held in it. ``nan`` for a score of length 0.
    """
    beats = _chunks(_pitched_roll(score), score.steps_per_beat)
    return float((~beats.any(axis=(1, 2))).mean()) if len(beats) else NAN


def empty_bar_rate(score: Score) -> float:
    """The share of bars in which no pitch sounds (MuseGAN's EB, Dong et al. 2018).

    A bar with a note held over from the bar before is not empty. ``nan`` for a
    score of length 0.
    """
    bars = _chunks(_pitched_roll(score), score.steps_per_bar)
    return float((~bars.any(axis=(1, 2))).mean()) if len(bars) else NAN


def used_pitch_classes_per_bar(score: Score) -> float:
    """Mean number of pitch classes sounding in a bar, over non-empty bars (MuseGAN's UPC).

    Dong et al. (2018) count the pitch classes of the piano roll in each bar (0..12);
    empty bars are left out here so that EB and UPC measure different things.
    """
    bars = _chunks(_pitched_roll(score), score.steps_per_bar)
    if not len(bars):
        return NAN
    per_pitch = bars.any(axis=1)  # (bars, 128)
    classes = np.zeros((len(bars), 12), dtype=bool)
    for pc in range(12):
        classes[:, pc] = per_pitch[:, pc::12].any(axis=1)
    used = classes.sum(axis=1)
    used = used[per_pitch.any(axis=1)]
    return float(used.mean()) if used.size else NAN


def qualified_note_rate(score: Score, min_steps: int | None = None) -> float:
    """The share of notes at least ``min_steps`` long (MuseGAN's QN, Dong et al. 2018).

    MuseGAN counts a note as qualified when it is no shorter than three steps at 24
    steps per beat, that is a 32nd note; the default ``min_steps`` is a 32nd note on
    the Score's grid, ``ceil(steps_per_beat / 8)``. On grids of 8 or fewer steps per
    beat every note is at least a step long and so qualifies: QN tells fragmented
    music apart only on finer grids.
    """
    if min_steps is None:
        min_steps = max(1, math.ceil(score.steps_per_beat / 8))
    notes = _pitched(score)
    if not notes:
        return NAN
    return sum(n.duration >= min_steps for n in notes) / len(notes)


IN_SCALE_BARS = 8  # the stretch of music one scale is fitted to (a phrase; the evaluation's continuations)


def in_scale_cells(score: Score, window_bars: int = IN_SCALE_BARS) -> tuple[int, int]:
    """``(in scale, sounding)``: piano-roll cells (a pitch sounding at a step) in the major or
    natural-minor scale that holds the most of each ``window_bars``-bar stretch, and all of them.

    The counts behind :func:`in_scale_rate`, so that rates pool over pieces exactly.
    """
    roll = _pitched_roll(score)
    inside = total = 0
    for stretch in _chunks(roll, max(1, window_bars * score.steps_per_bar)):
        per_class = np.bincount(np.arange(128) % 12, weights=stretch.sum(axis=0), minlength=12)
        inside += int(max(sum(per_class[(tonic + s) % 12] for s in _DIATONIC) for tonic in range(12)))
        total += int(per_class.sum())
    return inside, total


def in_scale_rate(score: Score, window_bars: int = IN_SCALE_BARS) -> float:
    """The share of sounding piano-roll cells in the best-fitting major or minor scale (0..1).

    Pypianoroll's ``in_scale_rate`` (used to evaluate MuseGAN-style models: the share
    of active piano-roll entries in a given scale), with the scale chosen per
    ``window_bars``-bar stretch as the one holding most of it, so that a piece that
    changes key is judged phrase by phrase and pieces of any length compare fairly.
    Unlike :func:`scale_consistency` it weighs each note by how long it sounds.
    """
    inside, total = in_scale_cells(score, window_bars)
    return inside / total if total else NAN


def groove_consistency(score: Score) -> float:
    """1 minus the mean Hamming distance between the onset patterns of neighbouring bars.

    Wu & Yang (2020); muspy's ``groove_consistency``: each bar is a binary vector
    over its steps (1 where any note starts), distances are divided by the steps in
    a bar. 1.0 means every bar has the same rhythm. ``nan`` with fewer than two bars.
    """
    onsets = np.zeros(score.n_bars * score.steps_per_bar, dtype=bool)
    for n in _pitched(score):
        onsets[n.start] = True
    bars = onsets.reshape(score.n_bars, score.steps_per_bar)
    if len(bars) < 2:
        return NAN
    return float(1.0 - (bars[1:] != bars[:-1]).sum() / (score.steps_per_bar * (len(bars) - 1)))


def note_density(score: Score) -> float:
    """Notes started per bar (Yang & Lerch's note count NC, divided by the bars)."""
    return len(_pitched(score)) / score.n_bars if score.n_bars else NAN


def mean_note_length(score: Score) -> float:
    """Mean note length in beats (quarter notes)."""
    notes = _pitched(score)
    return float(np.mean([n.duration for n in notes])) / score.steps_per_beat if notes else NAN


# ----------------------------------------------------------------- melody
def top_voice(score: Score) -> list[Note]:
    """The skyline melody (Uitdenbogerd & Zobel 1999): the highest sounding pitch at each step.

    A melody note starts where the highest sounding pitch changes or is struck again,
    and lasts while it stays highest; rests are left out. For a melody this is the
    melody itself; for a chorale it is (nearly always) the soprano.
    """
    pitched = [i for i, t in enumerate(score.tracks) if not t.is_drum]
    roll, onsets = score.piano_roll(tracks=pitched), score.onset_roll(tracks=pitched)
    steps = np.arange(len(roll))
    top = np.where(roll.any(axis=1), 127 - np.argmax(roll[:, ::-1], axis=1), -1)  # (T,) highest pitch, -1: rest
    struck = (top >= 0) & onsets[steps, top.clip(min=0)]
    new = np.r_[True, top[1:] != top[:-1]] | struck  # where a melody note (or a rest) starts
    bounds = np.r_[np.flatnonzero(new), len(top)]
    return [Note(int(a), int(top[a]), int(b - a)) for a, b in itertools.pairwise(bounds) if top[a] >= 0]


def average_interval(score: Score) -> float:
    """Mean absolute interval in semitones between consecutive notes of the top voice.

    Yang & Lerch's average pitch interval (PI), taken on the skyline melody
    (:func:`top_voice`) so that chords do not count as leaps. ``nan`` for fewer than
    two melody notes.
    """
    pitches = [n.pitch for n in top_voice(score)]
    return float(np.mean(np.abs(np.diff(pitches)))) if len(pitches) > 1 else NAN


# Yang & Lerch's 12 note-length classes, in beats: whole, half, quarter, eighth,
# sixteenth, their dotted forms, and the half, quarter and eighth triplets.
NOTE_LENGTH_CLASSES = (4.0, 2.0, 1.0, 0.5, 0.25, 3.0, 1.5, 0.75, 0.375, 4 / 3, 2 / 3, 1 / 3)
NOTE_LENGTH_NAMES = ("1", "1/2", "1/4", "1/8", "1/16", "1/2.", "1/4.", "1/8.", "1/16.", "1/2t", "1/4t", "1/8t")


def note_length_histogram(score: Score) -> np.ndarray:
    """``(12,)``: the share of notes in each of Yang & Lerch's note-length classes.

    Each note goes to the nearest class (:data:`NOTE_LENGTH_CLASSES`, in beats;
    longer notes count as whole notes). All zeros without notes.
    """
    hist = np.zeros(len(NOTE_LENGTH_CLASSES))
    classes = np.array(NOTE_LENGTH_CLASSES)
    for n in _pitched(score):
        beats = min(n.duration / score.steps_per_beat, 4.0)
        hist[int(np.argmin(np.abs(classes - beats)))] += 1
    return hist / hist.sum() if hist.sum() else hist


def pitch_class_transition_matrix(score: Score) -> np.ndarray:
    """``(12, 12)``: the share of melodic moves from pitch class ``i`` (row) to ``j``.

    Yang & Lerch's PCTM, on the skyline melody (:func:`top_voice`); sums to 1, or
    all zeros for fewer than two melody notes.
    """
    pcs = np.array([n.pitch % 12 for n in top_voice(score)], dtype=int)
    matrix = np.zeros((12, 12))
    np.add.at(matrix, (pcs[:-1], pcs[1:]), 1)
    return matrix / matrix.sum() if matrix.sum() else matrix


# ----------------------------------------------------------------- feature sets
@dataclass(frozen=True)
class Feature:
    """A per-piece number that musicians would name, for reports and the two-sample test."""

    name: str
    label: str  # for tables and plots
    function: Callable[[Score], float]


FEATURES: tuple[Feature, ...] = (
    Feature("pitch_range", "pitch range (semitones)", pitch_range),
    Feature("n_pitches_used", "pitches used", n_pitches_used),
    Feature("n_pitch_classes_used", "pitch classes used", n_pitch_classes_used),
    Feature("mean_pitch", "mean pitch (MIDI)", mean_pitch),
    Feature("pitch_class_entropy", "pitch-class entropy (bits)", pitch_class_entropy),
    Feature("scale_consistency", "scale consistency", scale_consistency),
    Feature("polyphony", "polyphony (pitches at once)", polyphony),
    Feature("empty_beat_rate", "empty-beat rate", empty_beat_rate),
    Feature("empty_bar_rate", "empty-bar rate", empty_bar_rate),
    Feature("qualified_note_rate", "qualified-note rate", qualified_note_rate),
    Feature("used_pitch_classes_per_bar", "pitch classes per bar", used_pitch_classes_per_bar),
    Feature("groove_consistency", "groove consistency", groove_consistency),
    Feature("average_interval", "melodic interval (semitones)", average_interval),
    Feature("note_density", "notes per bar", note_density),
    Feature("mean_note_length", "note length (beats)", mean_note_length),
)


def feature_vector(score: Score, features: Iterable[Feature] = FEATURES) -> np.ndarray:
    """The features of one piece, in order (``nan`` where undefined)."""
    return np.array([float(f.function(score)) for f in features])


# MuseGAN's bar metrics and what each is pooled over (see bar_metrics).
BAR_METRICS = ("empty_bar_rate", "used_pitch_classes_per_bar", "qualified_note_rate", "polyphony",
               "in_scale_rate")


def bar_metrics(scores: Iterable[Score]) -> dict[str, float]:
    """MuseGAN's bar metrics pooled over every bar of some pieces, and the counts behind them.

    EB is the share of all bars that are empty, UPC the mean over all non-empty
    bars, QN the share of all notes, polyphony the mean over all sounding steps,
    the in-scale rate the share of all sounding cells (each piece's scales fitted
    per 8-bar stretch, :func:`in_scale_cells`): the same as computing each metric
    on one long piece made of these, whatever their meters. Keys: :data:`BAR_METRICS`, ``"bars"`` and ``"notes"``.
    """
    bars = full = notes = sounding = in_scale = cells = 0
    upc = qn = poly = 0.0
    for s in scores:
        roll = _pitched_roll(s)
        n_bars = len(_chunks(roll, s.steps_per_bar))
        n_full = n_bars - round(empty_bar_rate(s) * n_bars) if n_bars else 0  # exact: a share of n_bars
        n_notes = len(_pitched(s))
        n_sounding = int(roll.any(axis=1).sum())
        bars, full, notes, sounding = bars + n_bars, full + n_full, notes + n_notes, sounding + n_sounding
        upc += used_pitch_classes_per_bar(s) * n_full if n_full else 0.0
        qn += qualified_note_rate(s) * n_notes if n_notes else 0.0
        poly += polyphony(s) * n_sounding if n_sounding else 0.0
        inside, total = in_scale_cells(s)
        in_scale, cells = in_scale + inside, cells + total
    return {"empty_bar_rate": (bars - full) / bars if bars else NAN,
            "used_pitch_classes_per_bar": upc / full if full else NAN,
            "qualified_note_rate": qn / notes if notes else NAN,
            "polyphony": poly / sounding if sounding else NAN,
            "in_scale_rate": in_scale / cells if cells else NAN,
            "bars": float(bars), "notes": float(notes)}
