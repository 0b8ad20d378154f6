"""Corpora: music21's bundled collections and folders of the user's MIDI files, as Scores.

music21 ships the Bach chorales, the Essen folk songs, O'Neill's 1850 and Ryan's
Mammoth collections, so the built-in corpora work offline. Parsing them is slow
(about 40 s for the chorales), so each corpus is parsed once, in parallel, and
cached on disk as plain arrays (``.npz`` + JSON, never a pickle).

Splits are by piece, from a hash of the piece's name: the same piece always lands
in the same split, and no window of a test piece is ever trained on.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .errors import MusicgenError
from .midi import MidiInputError, load_midi
from .paths import data_dir
from .score import Note, Score, ScoreError, Track

CACHE_VERSION = 4  # 4: a piece's meter skips music21's sub-beat time signatures (piece_meter)
SPLITS = ("train", "valid", "test")
VOICE_NAMES = ("soprano", "alto", "tenor", "bass")
Progress = Callable[[int, int], None]  # (done, total)


class CorpusError(MusicgenError):
    """A corpus that cannot be read; the message says what to do."""


@dataclass(frozen=True)
class Piece:
    """One piece of a corpus."""

    name: str  # stable id, e.g. "bach/bwv66.6" or "song.mid"
    score: Score
    fixed_split: str | None = None  # a benchmark's own split; else one by the name's hash

    @property
    def split(self) -> str:
        """``"train"``, ``"valid"`` or ``"test"``: the fixed one, or 80/10/10 by the name."""
        return self.fixed_split or split_of(self.name)


@dataclass
class Corpus:
    """Pieces, and what could not be read with the reasons."""

    name: str
    pieces: list[Piece]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)

    def split(self, which: str) -> list[Score]:
        """The scores of one split.

        A small corpus may hash no piece into validation: then the training piece
        with the lowest hash validates instead, so every corpus of two or more
        pieces can be trained on.
        """
        if which not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}")
        assigned = {p.name: p.split for p in self.pieces}
        if "valid" not in assigned.values():
            train = sorted((_hash(n), n) for n, sp in assigned.items() if sp == "train")
            if len(train) >= 2:
                assigned[train[0][1]] = "valid"
        return [p.score for p in self.pieces if assigned[p.name] == which]


def _hash(name: str) -> int:
    return int(hashlib.sha1(name.encode()).hexdigest()[:8], 16)


def split_of(name: str) -> str:
    """80% train, 10% valid, 10% test, by a hash of the piece's name."""
    bucket = _hash(name) % 10
    return "test" if bucket == 0 else "valid" if bucket == 1 else "train"


def transpositions(score: Score, semitones: Iterable[int], low: int = 0, high: int = 127) -> list[Score]:
    """The score moved by each interval that keeps every pitched note in ``low..high``."""
    pitched = [n.pitch for n in score.notes if not score.tracks[n.track].is_drum]
    if not pitched:
        return []
    lo, hi = min(pitched), max(pitched)
    return [score.transpose(k) for k in semitones if low <= lo + k and hi + k <= high]


def mean_pitch(scores: Iterable[Score]) -> float:
    """The mean MIDI pitch of the pitched notes of some scores (60.0 when there are none)."""
    pitches = [n.pitch for s in scores for n in s.notes if not s.tracks[n.track].is_drum]
    return float(np.mean(pitches)) if pitches else 60.0


# ----------------------------------------------------------------- music21
BUILTIN = {
    "bach": "The Bach chorales (371 four-part chorales, music21's corpus).",
    "jsb": "The JSB Chorales benchmark (229/76/77 chorales in quarter-note frames, its own split).",
    "folk": "Folk melodies: O'Neill's 1850 Irish tunes, Ryan's Mammoth Collection and the Essen folk songs.",
}
_FOLK_SOURCES = ("oneills1850", "ryansMammoth", "essenFolksong")


def music21_to_score(stream: object, steps_per_beat: int = 4, program: int | None = None,
                     voices_only: bool = False) -> Score:
    """A music21 stream as a Score: one track per part, ties merged, on the grid."""
    from music21 import meter, tempo

    parts = list(getattr(stream, "parts", [])) or [stream]
    if voices_only:
        named = [p for p in parts if (p.partName or "").strip().lower() in VOICE_NAMES]
        parts = named or parts
    tracks, notes = [], []
    for part in parts:
        flat = part.stripTies().flatten()
        index = len(tracks)
        tracks.append(Track((part.partName or "Melody").strip(), program or 0))
        for element in flat.notes:
            start = round(float(element.offset) * steps_per_beat)
            duration = max(1, round(float(element.quarterLength) * steps_per_beat))
            for pitch in element.pitches:
                if 0 <= pitch.midi < 128:
                    notes.append(Note(start, pitch.midi, duration, 80, index))
    if not notes:
        raise ScoreError("no notes")
    flat_all = stream.flatten()
    meters = list(flat_all.getElementsByClass(meter.TimeSignature))
    marks = list(flat_all.getElementsByClass(tempo.MetronomeMark))
    ts = piece_meter([(m.numerator, m.denominator) for m in meters])
    bpm = float(marks[0].getQuarterBPM()) if marks and marks[0].number else 100.0
    start = min(n.start for n in notes)  # drop a leading rest of pickup padding
    notes = [replace(n, start=n.start - start) for n in notes]
    try:
        return Score(tuple(notes), tuple(tracks), bpm=bpm, time_signature=ts, steps_per_beat=steps_per_beat)
    except ScoreError:
        return Score(tuple(notes), tuple(tracks), bpm=bpm, steps_per_beat=steps_per_beat)


# The shortest bar taken for a piece's meter, in quarter notes: 3/8 and longer.
SHORTEST_BAR = 1.5


def piece_meter(meters: list[tuple[int, int]]) -> tuple[int, int]:
    """A piece's time signature: the first of ``meters`` whose bar lasts 3/8 or more, else 4/4.

    music21's ABC reader sometimes puts a time signature of a sixteenth, an eighth or
    a quarter before a tune's real one (about 2.6% of the folk tunes: O'Neill's #6,
    in 3/4, starts with a 1/16). Bars that short are no meter a musician would
    write, and would make every sixteenth rest an "empty bar" and every step a bar
    line for the models.
    """
    for numerator, denominator in meters:
        if numerator * 4 / denominator >= SHORTEST_BAR:
            return numerator, denominator
    return 4, 4


def load_corpus_piece(name: str, number: int | None = None, steps_per_beat: int = 4,
                      program: int | None = None) -> Score:
    """One piece of music21's corpus as a Score (through music21's MIDI writer).

    ``name`` is a corpus path as music21 knows it (``"bwv66.6"``,
    ``"essenFolksong/altdeu10"``); ``number`` picks a tune in a collection.
    """
    from music21 import corpus
    from music21 import midi as m21midi

    stream = corpus.parse(name, number=number) if number is not None else corpus.parse(name)
    score = load_midi(m21midi.translate.streamToMidiFile(stream).writestr(), steps_per_beat=steps_per_beat)
    if program is not None:
        score = replace(score, tracks=tuple(Track(t.name, program, t.is_drum) for t in score.tracks))
    return score


def _builtin_sources(name: str) -> list[str]:
    from music21 import corpus

    if name == "bach":
        return sorted(corpus.chorales.Iterator(returnType="filename"))
    paths = corpus.getPaths()
    out = []
    for source in _FOLK_SOURCES:
        out += sorted(str(p).split("/corpus/", 1)[1] for p in paths if f"/corpus/{source}/" in str(p))
    return out


def _parse_source(args: tuple[str, str, int]) -> tuple[list[tuple[str, dict]], list[tuple[str, str]]]:
    """Parse one corpus file (a chorale, or a collection of tunes) in a worker process."""
    corpus_name, source, steps_per_beat = args
    from music21 import corpus

    ok, bad = [], []
    try:
        parsed = corpus.parse(source)
    except Exception as exc:  # music21 raises many kinds on odd files; skip with the reason
        return [], [(source, f"music21 could not parse it ({type(exc).__name__})")]
    streams = list(parsed.scores) if hasattr(parsed, "scores") and parsed.scores else [parsed]
    for i, stream in enumerate(streams):
        piece = source if len(streams) == 1 else f"{source}#{i + 1}"
        try:
            score = music21_to_score(stream, steps_per_beat, voices_only=corpus_name == "bach")
        except (ScoreError, ValueError, AttributeError, ZeroDivisionError) as exc:
            bad.append((piece, str(exc) or type(exc).__name__))
            continue
        ok.append((piece, score_to_dict(score)))
    return ok, bad


def load_builtin(name: str, steps_per_beat: int = 4, limit: int | None = None,
                 progress: Progress | None = None, cache: bool = True) -> Corpus:
    """A built-in corpus (``"bach"`` or ``"folk"``), parsed once and cached on disk.

    Each source file is cached as soon as it is parsed, so an interrupted first
    load resumes where it stopped. ``limit`` takes only the first N source files.
    """
    if name not in BUILTIN or name == "jsb":
        raise CorpusError(f"Unknown corpus {name!r}: use one of {', '.join(BUILTIN)}, or a folder of MIDI files.")
    sources = _builtin_sources(name)[:limit]
    folder = data_dir() / "cache" / f"corpus-{name}-{steps_per_beat}-v{CACHE_VERSION}"
    parsed: dict[str, dict] = {}
    if cache:
        for source in sources:
            path = folder / _cache_name(source)
            if path.is_file():
                parsed[source] = json.loads(path.read_text())
    todo = [(name, s, steps_per_beat) for s in sources if s not in parsed]
    done = len(sources) - len(todo)
    if progress and done:
        progress(done, len(sources))
    if todo:
        workers = max(1, min(4, os.cpu_count() or 1))
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for (_, source, _), (ok, bad) in zip(todo, pool.map(_parse_source, todo, chunksize=2), strict=True):
                parsed[source] = {"pieces": ok, "skipped": bad}
                if cache:
                    folder.mkdir(parents=True, exist_ok=True)
                    tmp = folder / (_cache_name(source) + ".tmp")
                    tmp.write_text(json.dumps(parsed[source]))
                    os.replace(tmp, folder / _cache_name(source))
                done += 1
                if progress:
                    progress(done, len(sources))
    pieces = [Piece(n, score_from_dict(d)) for s in sources for n, d in parsed[s]["pieces"]]
    skipped = [tuple(x) for s in sources for x in parsed[s]["skipped"]]
    return Corpus(name, pieces, skipped)


def _cache_name(source: str) -> str:
    return hashlib.sha1(source.encode()).hexdigest()[:16] + ".json"


# ----------------------------------------------------------------- user MIDI files
def load_midi_files(source: str | os.PathLike[str] | bytes, steps_per_beat: int = 4,
                    progress: Progress | None = None) -> Corpus:
    """A folder, a zip archive (path or bytes) of MIDI files as a corpus.

    Files that cannot be used are skipped and listed with the reason; only a source
    without a single usable file is an error.
    """
    files = _midi_files(source)
    if not files:
        raise CorpusError("No MIDI files (.mid, .midi) were found. Add some and try again.")
    pieces, skipped = [], []
    for done, (name, read) in enumerate(files, start=1):
        try:
            pieces.append(Piece(name, load_midi(read(), steps_per_beat=steps_per_beat)))
        except (MidiInputError, OSError) as exc:
            skipped.append((name, str(exc)))
        if progress:
            progress(done, len(files))
    if not pieces:
        reasons = "; ".join(f"{n}: {r}" for n, r in skipped[:3])
        raise CorpusError(f"None of the {len(files)} MIDI files could be used ({reasons}).")
    label = Path(source).name if not isinstance(source, bytes) else "upload"
    return Corpus(label, pieces, skipped)


def _midi_files(source: str | os.PathLike[str] | bytes) -> list[tuple[str, Callable[[], bytes]]]:
    is_zip = isinstance(source, bytes) or (Path(source).is_file() and zipfile.is_zipfile(source))
    if is_zip:
        try:
            archive = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
        except zipfile.BadZipFile as exc:
            raise CorpusError("The zip archive is damaged; make it again.") from exc
        names = sorted(n for n in archive.namelist() if n.lower().endswith((".mid", ".midi"))
                       and not n.startswith("__MACOSX"))
        return [(n, lambda n=n: archive.read(n)) for n in names]
    folder = Path(source)
    if not folder.is_dir():
        raise CorpusError(f"{folder} is neither a folder nor a zip archive of MIDI files.")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".mid", ".midi") and p.is_file())
    return [(str(p.relative_to(folder)), p.read_bytes) for p in paths]


def load_corpus(name_or_path: str, steps_per_beat: int = 4, progress: Progress | None = None,
                limit: int | None = None) -> Corpus:
    """A built-in corpus by name (``limit``: its first N source files), or a folder or zip of MIDI files."""
    if name_or_path == "jsb":
        from .benchmark import jsb_corpus

        return jsb_corpus()
    if name_or_path in BUILTIN:
        return load_builtin(name_or_path, steps_per_beat, limit=limit, progress=progress)
    return load_midi_files(name_or_path, steps_per_beat, progress=progress)


# ----------------------------------------------------------------- cache format
def score_to_dict(score: Score) -> dict:
    """A JSON-able dict of a Score; :func:`score_from_dict` is its inverse."""
    return {"notes": np.array(score.to_tuples(), dtype=np.int64).reshape(-1, 5).tolist(),
            "tracks": [[t.name, t.program, t.is_drum] for t in score.tracks], "bpm": score.bpm,
            "ts": list(score.time_signature), "spb": score.steps_per_beat, "length": score.length}


def score_from_dict(d: dict) -> Score:
    """The inverse of :func:`score_to_dict`."""
    tracks = tuple(Track(n, p, bool(dr)) for n, p, dr in d["tracks"])
    return Score.from_tuples([tuple(row) for row in d["notes"]], tracks=tracks, bpm=d["bpm"],
                             time_signature=tuple(d["ts"]), steps_per_beat=d["spb"], length=d["length"])
