"""Music from music21's bundled corpus as Scores.

music21 ships the Bach chorales, the Essen folk songs, O'Neill's 1850 and Ryan's
Mammoth collections, so these work offline once music21 is installed.
"""

from __future__ import annotations

from dataclasses import replace

from .midi import load_midi
from .score import Score, Track


def music21_to_midi_bytes(stream: object) -> bytes:
    """MIDI bytes of a music21 stream, written by music21's own MIDI translator."""
    from music21 import midi as m21midi

    return m21midi.translate.streamToMidiFile(stream).writestr()


def load_corpus_piece(name: str, number: int | None = None, steps_per_beat: int = 4,
                      program: int | None = None) -> Score:
    """One piece of music21's corpus as a Score.

    Parameters
    ----------
    name
        A corpus path as music21 knows it, e.g. ``"bwv66.6"`` or
        ``"essenFolksong/altdeu10"``.
    number
        For collections with many tunes in one file (ABC), which tune.
    program
        A General MIDI program for every track (music21 leaves voices unassigned).
    """
    from music21 import corpus

    stream = corpus.parse(name, number=number) if number is not None else corpus.parse(name)
    score = load_midi(music21_to_midi_bytes(stream), steps_per_beat=steps_per_beat)
    if program is not None:
        score = replace(score, tracks=tuple(Track(t.name, program, t.is_drum) for t in score.tracks))
    return score
