"""musicgen: compose with neural networks. The engine behind musicgen studio."""

import contextlib as _contextlib
import io as _io

# pyfluidsynth prints where it found libfluidsynth whenever CI is set, and
# pretty_midi imports it: import it once here, quietly, so no command's output
# carries that line.
with _contextlib.redirect_stdout(_io.StringIO()), _contextlib.suppress(ImportError, OSError):
    import fluidsynth as _fluidsynth  # noqa: F401

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
