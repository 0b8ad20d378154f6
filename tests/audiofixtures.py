"""What the audio tests share: the example scores, the FluidSynth skip, and a render counter."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from musicgen import audio, continuations
from musicgen.midi import load_midi
from musicgen.synths import NoteEvents

ROOT = Path(__file__).resolve().parent.parent
CHORALE = load_midi(ROOT / "assets" / "examples" / "bach-chorale-bwv66.6-opening.mid")
REEL = load_midi(ROOT / "assets" / "examples" / "reel-7th-regiment.mid")

try:
    HAS_FLUIDSYNTH = audio.describe_renderer()[1] is None
except Exception:  # pragma: no cover - reported by the skip below
    HAS_FLUIDSYNTH = False
# `make test` installs FluidSynth and FluidR3; only a hand-run pytest without them skips,
# and CI never does.
needs_fluidsynth = pytest.mark.skipif(not HAS_FLUIDSYNTH and not os.environ.get("CI"),
                                      reason="FluidSynth and a SoundFont are installed by make")


def count_renders(monkeypatch: pytest.MonkeyPatch) -> list[NoteEvents]:
    """The events of every FluidSynth render of takes from now on (seed parts and takes' own notes)."""
    played: list[NoteEvents] = []
    original = continuations._render_fluidsynth

    def counted(events: NoteEvents, *args):  # -> np.ndarray
        played.append(events)
        return original(events, *args)

    monkeypatch.setattr(continuations, "_render_fluidsynth", counted)
    return played
