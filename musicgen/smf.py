"""A defensive Standard MIDI File reader that keeps only what a Score needs.

Uploaded files can be anything, and general-purpose readers parse byte by byte
(minutes for a 5 MB file) or raise a zoo of exceptions. This reader makes one pass
over the bytes, counts events against a limit as it goes, raises only
:class:`MidiInputError`, tolerates what players tolerate (unknown chunks, invalid
key signatures, data bytes over 127, a track length that lies), and returns notes
already paired, in ticks. :func:`write_smf` writes a Score as a type 1 file directly
(about 50 times faster than building a PrettyMIDI and saving it through mido).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from .errors import MidiInputError
from .score import Score

_DAMAGED = "The MIDI file is damaged ({}). Export it again from your editor."
_CUT_OFF = "The MIDI file is cut off (it ends in the middle of a track). Download or export it again."
# Data bytes that follow each channel status (high nibble).
_DATA_LEN = {0x8: 2, 0x9: 2, 0xA: 2, 0xB: 2, 0xC: 1, 0xD: 1, 0xE: 2}


@dataclass
class RawNote:
    """A note as the file has it: ticks, channel and program at its onset."""

    track: int  # index of the MTrk chunk
    channel: int  # 0..15 (9 = drums)
    program: int  # GM program in force on the channel at the onset
    pitch: int
    velocity: int
    on: int  # tick
    off: int  # tick


@dataclass
class SmfData:
    """What a Score is built from."""

    ticks_per_beat: int
    notes: list[RawNote] = field(default_factory=list)
    track_names: dict[int, str] = field(default_factory=dict)
    tempi: list[tuple[int, int]] = field(default_factory=list)  # (tick, microseconds per beat)
    meters: list[tuple[int, tuple[int, int]]] = field(default_factory=list)  # (tick, (num, den))
    last_tick: int = 0
    n_events: int = 0


def read_header(data: bytes, max_tracks: int) -> tuple[int, int, int, int]:
    """Check the MThd chunk; return ``(header_length, format, n_tracks, ticks_per_beat)``."""
    if len(data) < 14:
        raise MidiInputError("The MIDI file is cut off inside its header; export it again.")
    length, fmt, n_tracks, division = struct.unpack(">IHHH", data[4:14])
    if length < 6:
        raise MidiInputError("The MIDI header is damaged (too short); export the file again.")
    if fmt == 2:
        raise MidiInputError(
            "This is a type 2 MIDI file (independent patterns), which is not supported. "
            "Export it as a type 0 or type 1 MIDI file."
        )
    if fmt > 2:
        raise MidiInputError(f"Unknown MIDI file type {fmt}; export the file again as type 1.")
    if n_tracks == 0:
        raise MidiInputError("This MIDI file has no tracks, so there is no music in it.")
    if n_tracks > max_tracks:
        raise MidiInputError(
            f"This MIDI file has {n_tracks} tracks; the limit is {max_tracks}. "
            "Merge or delete tracks in your editor and try again."
        )
    if division & 0x8000:
        raise MidiInputError(
            "This MIDI file counts time in SMPTE frames, not beats, so it has no bars to "
            "work with. Export it with musical (bars and beats) timing."
        )
    if division == 0:
        raise MidiInputError("The MIDI header says 0 ticks per beat; the file is damaged.")
    return length, fmt, n_tracks, division


def read_smf(data: bytes, max_tracks: int, max_events: int) -> SmfData:
    """Parse a Standard MIDI File that starts with ``MThd``."""
    header_len, _, n_tracks, tpb = read_header(data, max_tracks)
    out = SmfData(ticks_per_beat=tpb)
    pos = 8 + header_len
    for index in range(n_tracks):
        while True:  # skip chunks that are not tracks, as the standard asks
            if pos + 8 > len(data):
                if index == 0:
                    raise MidiInputError("This MIDI file has a header but no tracks: no music.")
                raise MidiInputError(_CUT_OFF)
            name, size = data[pos:pos + 4], struct.unpack(">I", data[pos + 4:pos + 8])[0]
            pos += 8
            if name == b"MTrk":
                break
            pos += size
        declared_end = pos + size
        # A track length that lies: read to the end-of-track event instead.
        honest = declared_end == len(data) or data[declared_end:declared_end + 4] == b"MTrk"
        stop, finished = _read_track(data, pos, declared_end if honest else len(data), index, out, max_events)
        if not finished and declared_end > len(data):
            raise MidiInputError(_CUT_OFF)
        pos = declared_end if honest else stop
    return out


def _read_track(data: bytes, pos: int, end: int, index: int, out: SmfData,
                max_events: int) -> tuple[int, bool]:
    """Read one track's events into ``out``.

    Returns the position after the last event and whether an end-of-track event was met.
    """
    finished = False
    tick = 0
    status = 0
    program = [0] * 16
    sounding: dict[tuple[int, int], tuple[int, int]] = {}  # (channel, pitch) -> (tick, velocity)
    notes = out.notes
    while pos < end:
        delta, pos = _read_vlq(data, pos, end)
        tick += delta
        out.n_events += 1
        if out.n_events > max_events:
            raise MidiInputError(
                f"This MIDI file has more than {max_events:,} events, the limit. "
                "Use a shorter or simpler file."
            )
        if pos >= end:
            raise MidiInputError(_CUT_OFF)
        byte = data[pos]
        if byte & 0x80:
            pos += 1
            if byte < 0xF0:
                status = byte
        elif not status:
            raise MidiInputError(_DAMAGED.format("an event without a status byte"))
        else:
            byte = status  # running status: the data byte stays
        if byte == 0xFF:  # meta event
            if pos >= end:
                raise MidiInputError(_CUT_OFF)
            kind = data[pos]
            length, pos = _read_vlq(data, pos + 1, end)
            body = data[pos:pos + length]
            pos += length
            if pos > end:
                raise MidiInputError(_CUT_OFF)
            status = 0  # meta and sysex events cancel running status
            if kind == 0x2F:
                finished = True
                break
            _read_meta(kind, body, tick, index, out)
        elif byte in (0xF0, 0xF7):  # sysex
            length, pos = _read_vlq(data, pos, end)
            pos += length
            status = 0
            if pos > end:
                raise MidiInputError(_CUT_OFF)
        elif byte >= 0xF0:
            raise MidiInputError(_DAMAGED.format(f"a system message 0x{byte:02X} inside a track"))
        else:
            n = _DATA_LEN[byte >> 4]
            if pos + n > end:
                raise MidiInputError(_CUT_OFF)
            a = min(data[pos], 127)
            b = min(data[pos + 1], 127) if n == 2 else 0
            pos += n
            high, channel = byte >> 4, byte & 0x0F
            if high == 0xC:
                program[channel] = a
            elif high in (0x8, 0x9):
                # A note-off, a note-on at velocity 0, or a repeated note-on ends the
                # sounding note of that pitch.
                opened = sounding.pop((channel, a), None)
                if opened is not None:
                    notes.append(RawNote(index, channel, program[channel], a, opened[1], opened[0], tick))
                if high == 0x9 and b > 0:
                    sounding[(channel, a)] = (tick, b)
    for (channel, pitch), (on, velocity) in sounding.items():  # closed where the track ends
        notes.append(RawNote(index, channel, program[channel], pitch, velocity, on, tick))
    out.last_tick = max(out.last_tick, tick)
    return pos, finished


def _read_vlq(data: bytes, pos: int, end: int) -> tuple[int, int]:
    value = 0
    for _ in range(4):
        if pos >= end:
            raise MidiInputError(_CUT_OFF)
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, pos
    raise MidiInputError(_DAMAGED.format("a length value longer than four bytes"))


def _read_meta(kind: int, body: bytes, tick: int, index: int, out: SmfData) -> None:
    if kind == 0x51 and len(body) == 3:
        out.tempi.append((tick, int.from_bytes(body, "big")))
    elif kind == 0x58 and len(body) >= 2 and body[1] <= 5:
        out.meters.append((tick, (body[0], 1 << body[1])))
    elif kind == 0x03 and index not in out.track_names:
        out.track_names[index] = body.decode("latin-1").strip()
    # Everything else (key signatures, text, markers...) does not affect the notes.


# ----------------------------------------------------------------- writing
DRUM_CHANNEL = 9
# Channels for pitched tracks, as pretty_midi assigns them: by track index, skipping drums.
_MELODIC_CHANNELS = tuple(c for c in range(16) if c != DRUM_CHANNEL)
_END_OF_TRACK = b"\xff\x2f\x00"


def _vlq(value: int) -> bytes:
    """A MIDI variable-length quantity (``value`` below 2**28)."""
    out = bytearray((value & 0x7F,))
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.reverse()
    return bytes(out)


def _chunk(name: bytes, body: bytes | bytearray) -> bytes:
    return name + struct.pack(">I", len(body)) + body


def track_channel(index: int, is_drum: bool) -> int:
    """The channel of track ``index``, as pretty_midi writes it: 9 for drums, else
    0..15 without 9 by index (drum tracks count too), cycling after 15."""
    return DRUM_CHANNEL if is_drum else _MELODIC_CHANNELS[index % len(_MELODIC_CHANNELS)]


def write_smf(score: Score, ticks_per_beat: int = 480) -> bytes:
    """A Standard MIDI File (type 1) of ``score``, laid out as pretty_midi writes it.

    Track 0 holds the tempo and the time signature; then one track per Score track:
    its name (latin-1, ``?`` for what latin-1 lacks), its program change and its notes
    (a note-off is a note-on at velocity 0; at one tick note-offs come before
    note-ons, so a repeated pitch strikes again). Step ``s`` is tick
    ``s * ticks_per_beat // steps_per_beat``. Every track ends at ``score.length``
    steps, so trailing rests are kept.
    """
    tempo = round(60_000_000 / score.bpm)
    if not 0 < tempo <= 0xFFFFFF:
        raise ValueError(f"A tempo of {score.bpm:g} BPM does not fit in a MIDI file (3.6 BPM at least).")
    spb = score.steps_per_beat
    end = score.length * ticks_per_beat // spb
    num, den = score.time_signature
    conductor = (b"\x00\xff\x51\x03" + tempo.to_bytes(3, "big")
                 + b"\x00\xff\x58\x04" + bytes((num, den.bit_length() - 1, 24, 8))
                 + _vlq(end) + _END_OF_TRACK)
    chunks = [_chunk(b"MThd", struct.pack(">HHH", 1, len(score.tracks) + 1, ticks_per_beat)),
              _chunk(b"MTrk", conductor)]
    # One int per event sorts by tick, then note-offs (bit 14 clear) before note-ons,
    # then pitch: (tick << 15) | (on << 14) | (pitch << 7) | velocity.
    events: list[list[int]] = [[] for _ in score.tracks]
    for n in score.notes:
        pitch = n.pitch << 7
        keys = events[n.track]
        keys.append((n.start * ticks_per_beat // spb) << 15 | 0x4000 | pitch | n.velocity)
        keys.append((n.end * ticks_per_beat // spb) << 15 | pitch)
    for index, (track, keys) in enumerate(zip(score.tracks, events, strict=True)):
        channel = track_channel(index, track.is_drum)
        body = bytearray()
        if track.name:
            name = track.name.encode("latin-1", "replace")
            body += b"\x00\xff\x03" + _vlq(len(name)) + name
        body += bytes((0, 0xC0 | channel, track.program))
        keys.sort()
        last = 0
        status = 0x90 | channel  # written once: running status for every note event after it
        for key in keys:
            tick = key >> 15
            delta = tick - last
            last = tick
            if delta < 0x80:
                body.append(delta)
            else:
                body += _vlq(delta)
            if status:
                body.append(status)
                status = 0
            body.append(key >> 7 & 0x7F)
            body.append(key & 0x7F if key & 0x4000 else 0)
        body += _vlq(max(end - last, 0)) + _END_OF_TRACK
        chunks.append(_chunk(b"MTrk", body))
    return b"".join(chunks)
