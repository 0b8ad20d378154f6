"""MIDI files in and out: bytes or path -> Score, Score -> PrettyMIDI or bytes.

Reading is defensive: a MIDI file from an upload can be anything. Every problem
raises :class:`MidiInputError` with a message a musician can act on, and the
:class:`MidiLimits` keep time and memory bounded before any heavy work starts.

Notes are quantized in the tick domain (``step = round(tick * steps_per_beat /
ticks_per_beat)``), which is exact on the grid whatever the tempo changes, and never
allocates per tick. Files are read by our own defensive reader (``smf.py``): mido,
which pretty_midi reads with, parses byte by byte (over a minute for a 5 MB file) and
raises a dozen kinds of exception. Bytes are written by ``smf.write_smf`` too (pretty_midi
plus mido took 40 ms a take); :func:`score_to_pretty_midi` gives a PrettyMIDI for those
who want one.
"""

from __future__ import annotations

import math
import os
import struct
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import mido
import pretty_midi

from .errors import MidiInputError
from .score import Note, Score, ScoreError, Track
from .smf import DRUM_CHANNEL, RawNote, SmfData, read_smf, write_smf

__all__ = [
    "DEFAULT_LIMITS",
    "MidiInputError",
    "MidiLimits",
    "check_seed",
    "load_midi",
    "score_to_bytes",
    "score_to_pretty_midi",
]

MIN_BPM, MAX_BPM = 10.0, 400.0


@dataclass(frozen=True)
class MidiLimits:
    """Bounds on what a MIDI file may hold, so that a server stays responsive.

    Each can be set from the environment, e.g. ``MUSICGEN_MIDI_MAX_MB=10``.
    """

    max_bytes: int = 5 * 1024 * 1024  # file size; MUSICGEN_MIDI_MAX_MB
    max_tracks: int = 64  # MTrk chunks in the file; MUSICGEN_MIDI_MAX_TRACKS
    max_events: int = 300_000  # MIDI events over all tracks; MUSICGEN_MIDI_MAX_EVENTS
    max_notes: int = 50_000  # notes after pairing on/off; MUSICGEN_MIDI_MAX_NOTES
    max_minutes: float = 20.0  # playing time; MUSICGEN_MIDI_MAX_MINUTES
    max_steps: int = 100_000  # grid steps (bounds the piano roll); MUSICGEN_MIDI_MAX_STEPS

    @property
    def upload_mb(self) -> int:
        """The file size in whole megabytes (MiB), rounded up: an upload widget's limit."""
        return max(1, math.ceil(self.max_bytes / 2**20))

    @classmethod
    def from_env(cls) -> MidiLimits:
        """The defaults, overridden by ``MUSICGEN_MIDI_*`` environment variables."""
        def get(name: str, default: float) -> float:
            value = os.environ.get(f"MUSICGEN_MIDI_{name}")
            return float(value) if value else default

        d = cls()
        return cls(
            max_bytes=int(get("MAX_MB", d.max_bytes / 2**20) * 2**20),
            max_tracks=int(get("MAX_TRACKS", d.max_tracks)),
            max_events=int(get("MAX_EVENTS", d.max_events)),
            max_notes=int(get("MAX_NOTES", d.max_notes)),
            max_minutes=get("MAX_MINUTES", d.max_minutes),
            max_steps=int(get("MAX_STEPS", d.max_steps)),
        )


DEFAULT_LIMITS = MidiLimits()

_SIGNATURES = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a zip archive (unpack it and upload the .mid files inside)"),
    (b"ID3", "an MP3 recording"),
    (b"fLaC", "a FLAC recording"),
    (b"OggS", "an Ogg recording"),
    (b"<?xml", "an XML file (MusicXML? export it as MIDI from your notation program)"),
)


def _describe_non_midi(data: bytes) -> str:
    for magic, what in _SIGNATURES:
        if data.startswith(magic):
            return what
    if data.startswith(b"RIFF") and data[8:12] == b"WAVE":
        return "a WAV recording"
    try:
        data[:512].decode("utf-8")
    except UnicodeDecodeError:
        return "not a MIDI file"
    return "a text file"


def _unwrap_rmid(data: bytes) -> bytes:
    """Return the SMF inside a RIFF ``RMID`` container, or the data unchanged."""
    if not (data.startswith(b"RIFF") and data[8:12] == b"RMID"):
        return data
    pos = 12
    while pos + 8 <= len(data):
        name, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if name == b"data":
            return data[pos + 8:pos + 8 + size]
        pos += 8 + size + (size & 1)
    raise MidiInputError("This RIFF MIDI file holds no MIDI data; export it again as a .mid file.")


def _tick_to_step(tick: int, tpb: int, spb: int) -> int:
    """Round ``tick`` to the nearest grid step (halves round up)."""
    return (2 * tick * spb + tpb) // (2 * tpb)


def _in_force(changes: list, tick: int, default):
    """The value of the last change at or before ``tick`` (else the first, else default)."""
    value = changes[0][1] if changes else default
    for at, new in changes:
        if at > tick:
            break
        value = new
    return value


def _seconds_at(tick: int, tempi: list[tuple[int, int]], tpb: int) -> float:
    """Time of ``tick`` under the tempo map (microseconds per beat at ticks)."""
    seconds, last_tick, tempo = 0.0, 0, 500_000
    for at, new_tempo in tempi:
        if at >= tick:
            break
        seconds += (at - last_tick) * tempo / 1e6 / tpb
        last_tick, tempo = at, new_tempo
    return seconds + (tick - last_tick) * tempo / 1e6 / tpb


def _check_size(smf: SmfData, steps_per_beat: int, limits: MidiLimits) -> None:
    n_notes = len(smf.notes)
    if n_notes == 0:
        raise MidiInputError("This file has no notes. Pick a MIDI file with some music in it.")
    if n_notes > limits.max_notes:
        raise MidiInputError(
            f"This MIDI file has {n_notes:,} notes; the limit is {limits.max_notes:,}. "
            "Use a shorter excerpt."
        )
    bad = [bpm for bpm in (mido.tempo2bpm(t) if t else 0.0 for _, t in smf.tempi)
           if not MIN_BPM <= bpm <= MAX_BPM]
    if bad:
        raise MidiInputError(
            f"The file sets a tempo of {bad[0]:.4g} BPM; tempos must lie between "
            f"{MIN_BPM:g} and {MAX_BPM:g} BPM. Fix the tempo in your MIDI editor."
        )
    minutes = _seconds_at(smf.last_tick, sorted(smf.tempi), smf.ticks_per_beat) / 60
    if minutes > limits.max_minutes:
        raise MidiInputError(
            f"The file is {minutes:.3g} minutes long; the limit is {limits.max_minutes:g}. "
            "Use a shorter excerpt."
        )
    if _tick_to_step(smf.last_tick, smf.ticks_per_beat, steps_per_beat) > limits.max_steps:
        raise MidiInputError(
            f"The file is {smf.last_tick / smf.ticks_per_beat:,.0f} beats long; the limit is "
            f"{limits.max_steps // steps_per_beat:,} beats. Use a shorter excerpt."
        )


def smf_to_score(smf: SmfData, steps_per_beat: int = 4, limits: MidiLimits = DEFAULT_LIMITS) -> Score:
    """Quantize a parsed MIDI file onto the step grid, within ``limits``.

    Each (track, channel, program) becomes one Score track, as in pretty_midi.
    Onsets and ends snap to the nearest step; a note shorter than a step gets one.
    Tempo and meter are those in force at the first note.
    """
    _check_size(smf, steps_per_beat, limits)
    tpb = smf.ticks_per_beat
    voices: dict[tuple[int, int, int], list[RawNote]] = defaultdict(list)
    for raw in smf.notes:
        voices[(raw.track, raw.channel, raw.program)].append(raw)
    first_tick = min(raw.on for raw in smf.notes)
    bpm = round(mido.tempo2bpm(_in_force(sorted(smf.tempi), first_tick, 500_000)), 3)
    meter = _in_force(sorted(smf.meters), first_tick, (4, 4))
    tracks, notes = [], []
    for (track, channel, program), items in sorted(voices.items()):
        is_drum = channel == DRUM_CHANNEL
        name = smf.track_names.get(track) or (
            "Drums" if is_drum else pretty_midi.program_to_instrument_name(program))
        tracks.append(Track(name=name, program=program, is_drum=is_drum))
        for raw in items:
            start = _tick_to_step(raw.on, tpb, steps_per_beat)
            end = _tick_to_step(raw.off, tpb, steps_per_beat)
            notes.append(Note(start, raw.pitch, max(1, end - start), max(1, raw.velocity), len(tracks) - 1))
    length = _tick_to_step(smf.last_tick, tpb, steps_per_beat)
    kwargs = dict(notes=tuple(notes), tracks=tuple(tracks), bpm=bpm, steps_per_beat=steps_per_beat,
                  length=length)
    try:
        return Score(time_signature=meter, **kwargs)
    except ScoreError:  # a meter that does not fit the grid (e.g. 5/32): count in 4/4
        return Score(**kwargs)


def load_midi(source: bytes | str | os.PathLike[str], steps_per_beat: int = 4,
              limits: MidiLimits | None = None) -> Score:
    """Read a MIDI file (bytes or a path) into a quantized Score.

    Parameters
    ----------
    source
        The file's bytes, or a path to it.
    steps_per_beat
        Grid resolution: steps per quarter note.
    limits
        Size bounds; defaults to :meth:`MidiLimits.from_env`.

    Raises
    ------
    MidiInputError
        For anything that is not a usable MIDI file, with a message saying what to do.
    """
    limits = limits or MidiLimits.from_env()
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise MidiInputError(f"There is no file at {path}. Check the name and try again.")
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise MidiInputError(_too_big(size, limits))
        data = path.read_bytes()
    if not data:
        raise MidiInputError("The file is empty. Pick a MIDI file with some music in it.")
    if len(data) > limits.max_bytes:
        raise MidiInputError(_too_big(len(data), limits))
    data = _unwrap_rmid(data)
    if not data.startswith(b"MThd"):
        what = _describe_non_midi(data)
        if what == "not a MIDI file":
            raise MidiInputError("This is not a MIDI file. Use a Standard MIDI File (.mid).")
        raise MidiInputError(f"This is not a MIDI file: it looks like {what}. Use a .mid file.")
    smf = read_smf(data, max_tracks=limits.max_tracks, max_events=limits.max_events)
    return smf_to_score(smf, steps_per_beat=steps_per_beat, limits=limits)


def _too_big(size: int, limits: MidiLimits) -> str:
    return (f"The file is {size / 2**20:.1f} MB; the limit is {limits.max_bytes / 2**20:g} MB. "
            "Use a shorter piece.")


def check_seed(score: Score) -> Score:
    """Check that a Score can seed the models (it has pitched notes); return it.

    Raises
    ------
    MidiInputError
        When the score has only drum tracks.
    """
    if not score.has_pitched_notes:
        raise MidiInputError(
            "This file has only drums. The models write melody and harmony: "
            "pick a file with pitched instruments."
        )
    return score


def score_to_pretty_midi(score: Score, resolution: int = 480) -> pretty_midi.PrettyMIDI:
    """A PrettyMIDI with one instrument per track, at the score's tempo and meter."""
    pm = pretty_midi.PrettyMIDI(resolution=resolution, initial_tempo=score.bpm)
    num, den = score.time_signature
    pm.time_signature_changes.append(pretty_midi.TimeSignature(num, den, 0.0))
    sps = score.seconds_per_step
    instruments = [pretty_midi.Instrument(program=t.program, is_drum=t.is_drum, name=t.name)
                   for t in score.tracks]
    for n in score.notes:
        instruments[n.track].notes.append(
            pretty_midi.Note(velocity=n.velocity, pitch=n.pitch, start=n.start * sps, end=n.end * sps))
    pm.instruments.extend(instruments)
    return pm


def score_to_bytes(score: Score) -> bytes:
    """Standard MIDI File (type 1) bytes of the score; :func:`load_midi` reads it back.

    Written directly (:func:`musicgen.smf.write_smf`, under a millisecond for a take),
    laid out as pretty_midi writes :func:`score_to_pretty_midi` at 480 ticks per beat,
    and lasting ``score.length`` steps, trailing rests included.
    """
    return write_smf(score, ticks_per_beat=480)
