"""Errors meant for users: each message says what went wrong and what to do."""

from __future__ import annotations


class MusicgenError(Exception):
    """Base of every error whose message is meant for a musician."""


class MidiInputError(MusicgenError, ValueError):
    """A MIDI file that cannot be used, with a message that says what to do."""
