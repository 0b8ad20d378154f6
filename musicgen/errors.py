"""Errors meant for users: each message says what went wrong and what to do."""

from __future__ import annotations


class MusicgenError(Exception):
    """Base of every error whose message is meant for a musician."""


class CliError(Exception):
    """A bad command line; the message says what to change."""


class MidiInputError(MusicgenError, ValueError):
    """A MIDI file that cannot be used, with a message that says what to do."""


INSTALL_HINT = (
    "Install one with `sudo apt-get install fluid-soundfont-gm` (or `make run`, which does it), "
    "or set MUSICGEN_SOUNDFONT to the path of a .sf2 file."
)


class SoundFontNotFound(MusicgenError, FileNotFoundError):
    """No usable General MIDI SoundFont; the message says how to get one."""


class SynthUnavailable(MusicgenError):
    """libfluidsynth cannot be loaded; the message says how to install it."""
