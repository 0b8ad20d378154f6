"""The Score: quantized notes on a step grid, and the operations musicians need.

Every other module speaks in Scores. A Score is immutable; operations return new
Scores. Time is counted in integer *steps*; ``steps_per_beat`` steps make one
quarter note (default 4, so one step is a sixteenth note).

Shapes used throughout the package:

- piano roll: ``(T, 128)`` with ``T = score.length`` steps and one column per MIDI
  pitch; ``roll[t, p]`` is true (or the velocity) while pitch ``p`` sounds at step ``t``.
- onset roll: ``(T, 128)``, true only at the step where a note starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

__all__ = ["Key", "Note", "Score", "ScoreError", "Track", "estimate_key"]

N_PITCHES = 128
PITCH_CLASS_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
VALID_DENOMINATORS = (1, 2, 4, 8, 16, 32)


class ScoreError(ValueError):
    """A Score operation was asked for something musically impossible."""


@dataclass(frozen=True, slots=True, order=True)
class Note:
    """One note on the grid.

    Ordering is by onset first, so ``sorted(notes)`` is playing order.
    """

    start: int  # onset step, >= 0
    pitch: int  # MIDI pitch 0..127 (60 = middle C)
    duration: int  # length in steps, >= 1
    velocity: int = 80  # MIDI velocity 1..127
    track: int = 0  # index into Score.tracks

    @property
    def end(self) -> int:
        """First step after the note."""
        return self.start + self.duration


@dataclass(frozen=True, slots=True)
class Track:
    """A voice or instrument of a Score."""

    name: str = ""
    program: int = 0  # General MIDI program 0..127 (0 = Acoustic Grand Piano)
    is_drum: bool = False  # drums play on MIDI channel 10; pitch means drum sound


@dataclass(frozen=True)
class Key:
    """A key estimate: tonic pitch class, mode and how well the music fits it."""

    tonic: int  # pitch class 0..11 (0 = C)
    mode: str  # "major" or "minor"
    correlation: float  # Pearson r of the pitch-class profile with the key's profile

    @property
    def name(self) -> str:
        """Readable name, such as ``"A minor"``."""
        return f"{PITCH_CLASS_NAMES[self.tonic]} {self.mode}"

    @property
    def scale(self) -> frozenset[int]:
        """The seven pitch classes of the key's scale (natural minor for minor)."""
        steps = (0, 2, 4, 5, 7, 9, 11) if self.mode == "major" else (0, 2, 3, 5, 7, 8, 10)
        return frozenset((self.tonic + s) % 12 for s in steps)


def _canonical(notes: Iterable[Note]) -> tuple[Note, ...]:
    """Sort notes and make same-pitch notes of one track never overlap.

    A later onset cuts the earlier note short (as a MIDI synth does); two notes with
    the same onset merge into the longer, louder one. This keeps the MIDI round trip
    exact for every Score.
    """
    by_voice = sorted(notes, key=lambda n: (n.track, n.pitch, n.start, -n.duration))
    out: list[Note] = []
    for note in by_voice:
        if out and out[-1].track == note.track and out[-1].pitch == note.pitch:
            prev = out[-1]
            if note.start == prev.start:
                out[-1] = replace(prev, velocity=max(prev.velocity, note.velocity))
                continue
            if note.start < prev.end:
                out[-1] = replace(prev, duration=note.start - prev.start)
        out.append(note)
    out.sort(key=lambda n: (n.start, -n.pitch, n.track, n.duration, n.velocity))
    return tuple(out)


@dataclass(frozen=True)
class Score:
    """Quantized, immutable music: notes on a step grid, tracks, tempo and meter.

    Parameters
    ----------
    notes
        The notes; stored sorted by onset, highest pitch first within a step.
    tracks
        The voices; ``Note.track`` indexes this tuple. Defaults to one piano track.
    bpm
        Tempo in quarter notes per minute.
    time_signature
        ``(numerator, denominator)``, e.g. ``(3, 4)``.
    steps_per_beat
        Grid steps per quarter note (4 = sixteenth notes).
    length
        Total length in steps; at least the end of the last note. ``None`` means
        exactly the end of the last note.
    """

    notes: tuple[Note, ...] = ()
    tracks: tuple[Track, ...] = (Track(),)
    bpm: float = 120.0
    time_signature: tuple[int, int] = (4, 4)
    steps_per_beat: int = 4
    length: int = field(default=-1)

    def __post_init__(self) -> None:
        tracks = tuple(self.tracks)
        if not tracks:
            raise ScoreError("A score needs at least one track.")
        num, den = self.time_signature
        if not 1 <= num <= 32 or den not in VALID_DENOMINATORS:
            raise ScoreError(f"Unsupported time signature {num}/{den}.")
        if self.steps_per_beat < 1:
            raise ScoreError("steps_per_beat must be at least 1.")
        if (num * self.steps_per_beat * 4) % den:
            raise ScoreError(
                f"A bar of {num}/{den} is not a whole number of steps at "
                f"{self.steps_per_beat} steps per beat."
            )
        if not 1.0 <= self.bpm <= 1000.0:
            raise ScoreError(f"Tempo {self.bpm:g} BPM is outside 1..1000.")
        for n in self.notes:
            if not (0 <= n.pitch < N_PITCHES and n.start >= 0 and n.duration >= 1
                    and 1 <= n.velocity <= 127 and 0 <= n.track < len(tracks)):
                raise ScoreError(f"Invalid note {n} for a score with {len(tracks)} tracks.")
        for t in tracks:
            if not 0 <= t.program < 128:
                raise ScoreError(f"GM program {t.program} is outside 0..127.")
        notes = _canonical(self.notes)
        end = max((n.end for n in notes), default=0)
        object.__setattr__(self, "notes", notes)
        object.__setattr__(self, "tracks", tracks)
        object.__setattr__(self, "time_signature", (int(num), int(den)))
        object.__setattr__(self, "length", max(end, self.length))

    # ----------------------------------------------------------------- building
    @classmethod
    def from_tuples(
        cls, notes: Iterable[tuple[int, int, int, int] | tuple[int, int, int, int, int]],
        **kwargs: object,
    ) -> Score:
        """Build a Score from ``(pitch, velocity, start, end[, track])`` tuples in steps.

        Tracks are created as needed when ``tracks`` is not given.
        """
        made = [Note(start=s, pitch=p, duration=e - s, velocity=v, track=rest[0] if rest else 0)
                for p, v, s, e, *rest in notes]
        if "tracks" not in kwargs:
            kwargs["tracks"] = tuple(Track() for _ in range(max((n.track for n in made), default=0) + 1))
        return cls(notes=tuple(made), **kwargs)  # type: ignore[arg-type]

    def to_tuples(self) -> list[tuple[int, int, int, int, int]]:
        """The inverse of :meth:`from_tuples`: ``(pitch, velocity, start, end, track)``."""
        return [(n.pitch, n.velocity, n.start, n.end, n.track) for n in self.notes]

    def with_notes(self, notes: Iterable[Note], length: int = -1) -> Score:
        """The same tracks, tempo and meter with other notes."""
        return replace(self, notes=tuple(notes), length=length)

    # ----------------------------------------------------------------- measures
    @property
    def steps_per_bar(self) -> int:
        """Steps in one bar of the time signature."""
        num, den = self.time_signature
        return num * self.steps_per_beat * 4 // den

    @property
    def n_bars(self) -> int:
        """Bars needed to hold the score (a started bar counts)."""
        return -(-self.length // self.steps_per_bar)

    @property
    def seconds_per_step(self) -> float:
        """Duration of one grid step at the score's tempo."""
        return 60.0 / (self.bpm * self.steps_per_beat)

    @property
    def duration_seconds(self) -> float:
        """Length of the score in seconds."""
        return self.length * self.seconds_per_step

    @property
    def has_pitched_notes(self) -> bool:
        """Whether any note is on a non-drum track."""
        return any(not self.tracks[n.track].is_drum for n in self.notes)

    # ----------------------------------------------------------------- views
    def piano_roll(self, tracks: Sequence[int] | None = None, velocity: bool = False) -> np.ndarray:
        """Piano roll ``(T, 128)``: bool, or uint8 velocities when ``velocity``."""
        roll = np.zeros((self.length, N_PITCHES), dtype=np.uint8 if velocity else bool)
        for n in self._notes_of(tracks):
            roll[n.start:n.end, n.pitch] = n.velocity if velocity else True
        return roll

    def onset_roll(self, tracks: Sequence[int] | None = None) -> np.ndarray:
        """Onset roll ``(T, 128)``: true where a note starts."""
        roll = np.zeros((self.length, N_PITCHES), dtype=bool)
        for n in self._notes_of(tracks):
            roll[n.start, n.pitch] = True
        return roll

    def _notes_of(self, tracks: Sequence[int] | None) -> Iterable[Note]:
        if tracks is None:
            return self.notes
        wanted = set(tracks)
        return (n for n in self.notes if n.track in wanted)

    # ----------------------------------------------------------------- operations
    def transpose(self, semitones: int) -> Score:
        """Shift every pitched note; drum tracks are left as they are."""
        moved = []
        for n in self.notes:
            if self.tracks[n.track].is_drum:
                moved.append(n)
                continue
            pitch = n.pitch + semitones
            if not 0 <= pitch < N_PITCHES:
                raise ScoreError(
                    f"Transposing by {semitones:+d} moves a note outside the MIDI range 0..127."
                )
            moved.append(replace(n, pitch=pitch))
        return replace(self, notes=tuple(moved))

    def crop(self, start: int, stop: int) -> Score:
        """The steps ``[start, stop)`` as a new Score starting at step 0.

        Notes that start inside the window are kept and cut at its end; notes held
        over from before the window are left out.
        """
        if not 0 <= start <= stop:
            raise ScoreError(f"Cannot crop steps {start}..{stop}.")
        kept = [replace(n, start=n.start - start, duration=min(n.end, stop) - n.start)
                for n in self.notes if start <= n.start < stop]
        return replace(self, notes=tuple(kept), length=stop - start)

    def crop_bars(self, start_bar: int, stop_bar: int) -> Score:
        """Bars ``[start_bar, stop_bar)`` (0-based), see :meth:`crop`."""
        return self.crop(start_bar * self.steps_per_bar, stop_bar * self.steps_per_bar)

    def last_bars(self, n: int) -> Score:
        """The last ``n`` bars (all of it when shorter)."""
        if n < 1:
            raise ScoreError("Ask for at least one bar.")
        first = max(0, self.n_bars - n)
        return self.crop_bars(first, self.n_bars)

    def resample(self, steps_per_beat: int) -> Score:
        """The same music on another grid; onsets and ends snap to the nearest step."""
        if steps_per_beat == self.steps_per_beat:
            return self

        def snap(step: int) -> int:
            return (2 * step * steps_per_beat + self.steps_per_beat) // (2 * self.steps_per_beat)

        notes = [replace(n, start=snap(n.start), duration=max(1, snap(n.end) - snap(n.start))) for n in self.notes]
        try:
            return replace(self, notes=tuple(notes), steps_per_beat=steps_per_beat, length=snap(self.length))
        except ScoreError:  # the meter has no whole number of steps on the new grid
            return replace(self, notes=tuple(notes), steps_per_beat=steps_per_beat, length=snap(self.length),
                           time_signature=(4, 4))

    def padded_to_bar(self) -> Score:
        """The same music with its length rounded up to a whole number of bars."""
        return replace(self, length=self.n_bars * self.steps_per_bar)

    def concat(self, *others: Score) -> Score:
        """This score followed by ``others``, each starting on a new bar.

        Tracks are matched by name, program and drum flag; unmatched tracks are added.
        Tempo and meter are this score's.
        """
        tracks = list(self.tracks)
        notes = list(self.notes)
        offset = self.n_bars * self.steps_per_bar
        for other in others:
            if other.steps_per_beat != self.steps_per_beat:
                raise ScoreError("Scores on different grids cannot be joined; requantize first.")
            mapping = {}
            for i, t in enumerate(other.tracks):
                if t not in tracks:
                    tracks.append(t)
                mapping[i] = tracks.index(t)
            notes += [replace(n, start=n.start + offset, track=mapping[n.track]) for n in other.notes]
            offset += -(-other.length // self.steps_per_bar) * self.steps_per_bar
        return replace(self, notes=tuple(notes), tracks=tuple(tracks), length=offset)

    def select_tracks(self, indices: Sequence[int]) -> Score:
        """Only the given tracks, in the given order."""
        if not indices:
            raise ScoreError("Pick at least one track.")
        if any(not 0 <= i < len(self.tracks) for i in indices):
            raise ScoreError(f"This score has tracks 0..{len(self.tracks) - 1}.")
        mapping = {old: new for new, old in enumerate(indices)}
        notes = tuple(replace(n, track=mapping[n.track]) for n in self.notes if n.track in mapping)
        tracks = tuple(self.tracks[i] for i in indices)
        return replace(self, notes=notes, tracks=tracks, length=self.length)

    def merge_tracks(self, program: int | None = None, name: str = "Merged") -> Score:
        """All pitched notes on one track (drums are dropped).

        ``program`` defaults to the first pitched track's program.
        """
        pitched = [i for i, t in enumerate(self.tracks) if not t.is_drum]
        if program is None:
            program = self.tracks[pitched[0]].program if pitched else 0
        notes = tuple(replace(n, track=0) for n in self.notes if n.track in pitched)
        return replace(self, notes=notes, tracks=(Track(name, program),), length=self.length)

    def estimate_key(self) -> Key:
        """Estimate the key, see :func:`estimate_key`."""
        return estimate_key(self)


# Krumhansl & Kessler (1982) probe-tone profiles, as used by the
# Krumhansl-Schmuckler key-finding algorithm (Krumhansl 1990, ch. 4).
_MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def pitch_class_histogram(score: Score) -> np.ndarray:
    """Duration-weighted pitch-class histogram ``(12,)`` of the pitched notes."""
    hist = np.zeros(12)
    for n in score.notes:
        if not score.tracks[n.track].is_drum:
            hist[n.pitch % 12] += n.duration
    return hist


def estimate_key(score: Score) -> Key:
    """Krumhansl-Schmuckler key finding.

    Correlates the duration-weighted pitch-class histogram with the 24 rotated
    Krumhansl-Kessler profiles and returns the best-fitting key.

    Raises
    ------
    ScoreError
        When the score has no pitched notes.
    """
    hist = pitch_class_histogram(score)
    if not hist.any():
        raise ScoreError("There are no pitched notes to estimate a key from.")
    best = Key(0, "major", -2.0)
    for mode, profile in (("major", _MAJOR_PROFILE), ("minor", _MINOR_PROFILE)):
        for tonic in range(12):
            rotated = np.roll(profile, tonic)
            r = 0.0 if hist.std() == 0 else float(np.corrcoef(hist, rotated)[0, 1])
            if r > best.correlation:
                best = Key(tonic, mode, r)
    return best


def pitch_name(pitch: int) -> str:
    """Scientific pitch name, e.g. ``60 -> "C4"``, ``69 -> "A4"``."""
    return f"{PITCH_CLASS_NAMES[pitch % 12]}{pitch // 12 - 1}"
