"""Build Standard MIDI Files byte by byte, for tests of the reader."""

from __future__ import annotations

import struct


def vlq(n: int) -> bytes:
    """MIDI variable-length quantity."""
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def mtrk(events: bytes, length: int | None = None) -> bytes:
    """A track chunk; ``length`` can lie about the size."""
    return b"MTrk" + struct.pack(">I", len(events) if length is None else length) + events


def header(fmt: int = 1, n_tracks: int = 1, division: int = 480, length: int = 6) -> bytes:
    return b"MThd" + struct.pack(">IHHH", length, fmt, n_tracks, division)


def smf(*tracks: bytes, fmt: int = 1, division: int = 480) -> bytes:
    """A whole file from track event bytes (each without its chunk header)."""
    return header(fmt, len(tracks), division) + b"".join(mtrk(t) for t in tracks)


def ev(delta: int, *data: int) -> bytes:
    """One event: delta time then raw bytes."""
    return vlq(delta) + bytes(data)


def note(delta_on: int, pitch: int, length: int, velocity: int = 80, channel: int = 0) -> bytes:
    """Note-on after ``delta_on`` ticks and its note-off ``length`` ticks later."""
    return ev(delta_on, 0x90 | channel, pitch, velocity) + ev(length, 0x80 | channel, pitch, 0)


def tempo(bpm: float, delta: int = 0) -> bytes:
    us = round(60_000_000 / bpm) if bpm else 0
    return ev(delta, 0xFF, 0x51, 3) + us.to_bytes(3, "big")


def meter(num: int, den_power: int, delta: int = 0) -> bytes:
    return ev(delta, 0xFF, 0x58, 4, num, den_power, 24, 8)


def track_name(name: str, delta: int = 0) -> bytes:
    raw = name.encode("latin-1")
    return ev(delta, 0xFF, 0x03) + vlq(len(raw)) + raw


END = ev(0, 0xFF, 0x2F, 0)

# C major scale in quarter notes at 480 ticks per beat, then the end of the track.
SCALE = b"".join(note(0, p, 480) for p in (60, 62, 64, 65, 67, 69, 71, 72))
VALID = smf(tempo(100) + meter(4, 2) + track_name("Melody") + SCALE + END)
