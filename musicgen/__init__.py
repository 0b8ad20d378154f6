"""musicgen: compose with neural networks. The engine behind musicgen studio."""

from .midi import MidiInputError, MidiLimits, load_midi, score_to_bytes, score_to_pretty_midi
from .score import Key, Note, Score, ScoreError, Track

__all__ = [
    "Key",
    "MidiInputError",
    "MidiLimits",
    "Note",
    "Score",
    "ScoreError",
    "Track",
    "load_midi",
    "score_to_bytes",
    "score_to_pretty_midi",
]
__version__ = "0.1.0"
