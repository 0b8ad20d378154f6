"""Audio: a Score played by FluidSynth with a General MIDI SoundFont, as WAV bytes.

One place finds the SoundFont (:func:`find_soundfont`); ``synths.py`` plays the
note events, safely from many threads at once.

When libfluidsynth or a SoundFont is missing, a small additive synth in numpy plays
the music instead, and :class:`Rendered` says which renderer was used and why.
"""

from __future__ import annotations

import io
import os
import threading
import wave
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple, TypeVar

import numpy as np

from .errors import INSTALL_HINT, SoundFontNotFound, SynthUnavailable
from .score import Score
from .synths import BLOCK, DRUM_CHANNEL, POOL, SAMPLE_RATE, NoteEvents, additive

__all__ = [
    "RenderOptions",
    "Rendered",
    "SoundFontNotFound",
    "encode",
    "find_soundfont",
    "render",
    "render_continuations",
    "render_many",
]

T = TypeVar("T")

# Where Debian/Ubuntu, Fedora, Arch and Homebrew put General MIDI SoundFonts.
SOUNDFONT_PATHS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/usr/share/soundfonts/FluidR3_GM2-2.sf2",
    "/usr/share/sounds/sf2/GeneralUser_GS.sf2",
    "/opt/homebrew/share/soundfonts/default.sf2",
    "/usr/local/share/soundfonts/default.sf2",
)


@dataclass(frozen=True)
class RenderOptions:
    """How to play a Score."""

    sample_rate: int = SAMPLE_RATE  # Hz
    program: int | None = None  # one GM program for every pitched track; None keeps each track's
    bpm: float | None = None  # tempo override; None keeps the score's tempo
    tail_seconds: float = 1.0  # release and reverb after the last note
    effects: bool = True  # FluidSynth's reverb and chorus
    peak: float = 0.89  # peak level after normalization (-1 dBFS)
    fade_in_seconds: float = 0.003  # raised-cosine ramps so nothing clicks
    fade_out_seconds: float = 0.05


@dataclass(frozen=True)
class Rendered:
    """Stereo audio and how it was made."""

    audio: np.ndarray  # (n_samples, 2) float32 in [-1, 1]
    sample_rate: int
    renderer: str  # e.g. "FluidSynth with FluidR3_GM.sf2" or "built-in synth"
    notice: str | None = None  # why the built-in synth played, for the user

    @property
    def seconds(self) -> float:
        """Duration of the audio."""
        return len(self.audio) / self.sample_rate


def find_soundfont(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The SoundFont to use: ``explicit``, else ``MUSICGEN_SOUNDFONT``, else a system one.

    Raises
    ------
    SoundFontNotFound
        When the named file does not exist, or no system SoundFont is installed.
    """
    named = (("The SoundFont", explicit), ("MUSICGEN_SOUNDFONT", os.environ.get("MUSICGEN_SOUNDFONT")))
    for origin, value in named:
        if value:
            path = Path(value).expanduser()
            if not path.is_file():
                raise SoundFontNotFound(f"{origin} {path} does not exist. {INSTALL_HINT}")
            return path
    for candidate in SOUNDFONT_PATHS:
        if Path(candidate).is_file():
            return Path(candidate)
    raise SoundFontNotFound(f"No General MIDI SoundFont was found. {INSTALL_HINT}")


# ----------------------------------------------------------------- events
def _channels(score: Score, program: int | None) -> tuple[list[int], dict[int, int]]:
    """A MIDI channel for each track (drums on 10), and each channel's program.

    Each pitched track gets a channel of its own, so that one voice's note-off never
    ends another's note; past 15 pitched tracks, a track shares the channel of a
    track with its program (or, failing that, the next channel in turn).
    """
    free = [c for c in range(16) if c != DRUM_CHANNEL]
    track_channel: list[int] = []
    programs: dict[int, int] = {}
    n_pitched = 0
    for track in score.tracks:
        if track.is_drum:
            track_channel.append(DRUM_CHANNEL)
            programs[DRUM_CHANNEL] = track.program
            continue
        prog = track.program if program is None else program
        if n_pitched < len(free):
            channel = free[n_pitched]
        else:
            channel = next((c for c, p in programs.items() if p == prog and c != DRUM_CHANNEL),
                           free[n_pitched % len(free)])
        n_pitched += 1
        track_channel.append(channel)
        programs.setdefault(channel, prog)
    return track_channel, programs


def _events(score: Score, options: RenderOptions) -> NoteEvents:
    sr = options.sample_rate
    bpm = options.bpm or score.bpm
    seconds_per_step = 60.0 / (bpm * score.steps_per_beat)
    track_channel, programs = _channels(score, options.program)
    notes = score.notes
    starts = np.array([n.start for n in notes], dtype=np.int64)
    ends = np.array([n.end for n in notes], dtype=np.int64)
    channel = np.array([track_channel[n.track] for n in notes], dtype=np.int64)
    pitch = np.array([n.pitch for n in notes], dtype=np.int64)
    velocity = np.array([n.velocity for n in notes], dtype=np.int64)
    times = np.round(np.concatenate([ends, starts]) * seconds_per_step * sr).astype(np.int64)
    ons = np.concatenate([np.zeros(len(notes), bool), np.ones(len(notes), bool)])
    order = np.lexsort((ons, times))  # by time, note-offs first
    n_samples = round((score.length * seconds_per_step + options.tail_seconds) * sr)
    return NoteEvents(times[order], ons[order], np.concatenate([channel, channel])[order],
                   np.concatenate([pitch, pitch])[order], np.concatenate([velocity, velocity])[order],
                   programs, n_samples)


# ----------------------------------------------------------------- public API
def _finish(audio: np.ndarray, options: RenderOptions) -> np.ndarray:
    """Peak-normalize without clipping, and ramp both ends so nothing clicks."""
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak > 0:
        audio *= options.peak / peak
    n_in = min(len(audio), int(options.fade_in_seconds * options.sample_rate))
    n_out = min(len(audio), int(options.fade_out_seconds * options.sample_rate))
    if n_in:
        audio[:n_in] *= (0.5 - 0.5 * np.cos(np.linspace(0, np.pi, n_in)))[:, None]
    if n_out:
        audio[-n_out:] *= (0.5 + 0.5 * np.cos(np.linspace(0, np.pi, n_out)))[:, None]
    return audio


def render(score: Score, options: RenderOptions | None = None,
           soundfont: str | os.PathLike[str] | None = None, parallel: bool = True) -> Rendered:
    """Play a Score: every track with its GM program, drums on channel 10.

    Uses FluidSynth when it and a SoundFont are available, else the built-in synth
    (``Rendered.notice`` then says why). Safe to call from many threads at once.
    A score always renders to the same samples, whatever was rendered before.
    ``parallel`` plays groups of tracks on several cores at once (see
    :func:`split_by_channel`); without it one synth plays everything, the same music
    to within -80 dB, for less total work when other renders keep the cores busy.

    Raises
    ------
    SoundFontNotFound
        Only when ``soundfont`` names a file that does not exist: a caller asking for
        a specific sound must hear about it. A missing ``MUSICGEN_SOUNDFONT`` is a
        server's setting, not the listener's request: the built-in synth plays, and
        ``Rendered.notice`` names the missing file.
    """
    options = options or RenderOptions()
    events = _events(score, options)
    try:
        path = find_soundfont(soundfont)
    except SoundFontNotFound as exc:
        if soundfont:
            raise
        return _fallback(events, options, str(exc))
    try:
        audio = _render_fluidsynth(events, options, path, POOL.size if parallel else 1)
    except (SynthUnavailable, SoundFontNotFound) as exc:
        return _fallback(events, options, str(exc))
    return Rendered(_finish(audio, options), options.sample_rate, f"FluidSynth with {path.name}")


def split_by_channel(events: NoteEvents, n_groups: int) -> list[NoteEvents]:
    """Share the channels among ``n_groups`` groups with about as many events each."""
    counts = {ch: int((events.channels == ch).sum()) for ch in events.programs}
    groups: list[list[int]] = [[] for _ in range(max(1, min(n_groups, len(counts))))]
    loads = [0] * len(groups)
    for ch in sorted(counts, key=lambda c: (-counts[c], c)):
        lightest = loads.index(min(loads))
        groups[lightest].append(ch)
        loads[lightest] += counts[ch]
    out = []
    for chans in groups:
        keep = np.isin(events.channels, chans)
        out.append(NoteEvents(events.times[keep], events.ons[keep], events.channels[keep], events.pitches[keep],
                              events.velocities[keep], {ch: events.programs[ch] for ch in chans},
                              events.n_samples))
    return out


def _render_fluidsynth(events: NoteEvents, options: RenderOptions, path: Path, n_groups: int) -> np.ndarray:
    """Play the channels in groups on several synths at once, and mix them.

    Synthesis and effects are (nearly) linear, so the mix is the same music as one
    synth playing everything: they differ by more than 80 dB below the music's level
    (measured on a chorale). The groups depend only on the score and
    the pool size, and are summed in a fixed order: a score always renders to the
    same samples, whether the groups ran in parallel or waited for each other.
    """
    def play(group: NoteEvents) -> np.ndarray:
        with POOL.borrow(path) as loaded:
            return loaded.render(group, options.effects, options.sample_rate)

    groups = split_by_channel(events, n_groups)
    if len(groups) == 1:
        return play(groups[0])
    with ThreadPoolExecutor(max_workers=len(groups)) as workers:
        parts = list(workers.map(play, groups))
    mix = parts[0]
    for part in parts[1:]:
        mix += part
    return mix


def _fallback(events: NoteEvents, options: RenderOptions, why: str) -> Rendered:
    audio = _finish(additive(events, options.sample_rate), options)
    return Rendered(audio, options.sample_rate, "built-in synth",
                    f"Playing with the simple built-in synth. {why}")


def render_many(scores: Sequence[Score], options: RenderOptions | None = None,
                soundfont: str | os.PathLike[str] | None = None) -> list[Rendered]:
    """Render several Scores at once, one synth each, on every core; in order.

    Each score is played by one synth (``render(..., parallel=False)``): with the
    cores busy with other scores, splitting one would only add work.
    """
    if len(scores) <= 1:
        return [render(s, options, soundfont) for s in scores]
    with ThreadPoolExecutor(max_workers=min(len(scores), POOL.size)) as workers:
        return list(workers.map(lambda s: render(s, options, soundfont, parallel=False), scores))


# How long a seed's part of its continuations may ring on after its last note ends: it stops
# sooner, once its voices have ended and it is 120 dB down (synths.QUIET); so its audio is the
# same whatever the takes' length, and can be played before they exist.
SEED_RING_SECONDS = 30.0
_HEADS: OrderedDict[tuple, Future[np.ndarray]] = OrderedDict()  # the last few seeds' parts, newest last
_HEADS_KEPT = 4
_HEADS_LOCK = threading.Lock()


def _events_key(events: NoteEvents) -> tuple:
    return (events.times.tobytes(), events.ons.tobytes(), events.channels.tobytes(), events.pitches.tobytes(),
            events.velocities.tobytes(), tuple(sorted(events.programs.items())), events.n_samples)


def _seed_part(score: Score, shared_until: int, options: RenderOptions) -> NoteEvents:
    """The notes of ``score`` that start before step ``shared_until``, on the channels they have
    in it, ringing on for up to :data:`SEED_RING_SECONDS`: the same events for a seed and for
    every take that continues it (whatever the take's length and its own tracks)."""
    notes = [n for n in score.notes if n.start < shared_until]
    events = _events(score.with_notes(notes, length=max((n.end for n in notes), default=0)),
                     replace(options, tail_seconds=SEED_RING_SECONDS))
    sounding = set(events.channels.tolist())
    return replace(events, programs={ch: p for ch, p in events.programs.items() if ch in sounding})


def _head(events: NoteEvents, options: RenderOptions, path: Path) -> np.ndarray:
    """The seed's part of a set of continuations, rendered once per seed and kept (read-only).

    A musician draws many sets of takes from one seed: its part is the same every time, so
    only the first request plays it (with the same instrument and tempo), or
    :func:`prepare_continuations` before it. A fresh synth renders the same events to the
    same samples, so a kept part is exactly what a new render would give. A part being
    played is waited for, not played twice. The last :data:`_HEADS_KEPT` are kept (about
    1.3 MB a second of audio).
    """
    key = (str(path), options, _events_key(events))
    with _HEADS_LOCK:
        future = _HEADS.get(key)
        mine = future is None
        if mine:
            future = _HEADS[key] = Future()
            while len(_HEADS) > _HEADS_KEPT:
                _HEADS.popitem(last=False)
        else:
            _HEADS.move_to_end(key)
    if mine:
        try:
            head = _render_fluidsynth(events, options, path, 1)
        except BaseException as exc:
            with _HEADS_LOCK:
                if _HEADS.get(key) is future:
                    del _HEADS[key]
            future.set_exception(exc)
            raise
        head.flags.writeable = False
        future.set_result(head)
    return future.result()


def prepare_continuations(seed: Score, options: RenderOptions | None = None,
                          soundfont: str | os.PathLike[str] | None = None) -> None:
    """Play a seed's part of its continuations ahead, while the musician sets up, so that the
    first request from it finds it kept (:func:`render_continuations`; ``options`` as the takes
    will be played, ``seed`` at their tempo). Does nothing without FluidSynth and a SoundFont."""
    options = options or RenderOptions()
    try:
        path = find_soundfont(soundfont)
        POOL.check_library()
    except (SoundFontNotFound, SynthUnavailable):
        return
    _head(_seed_part(seed, seed.padded_to_bar().length, options), options, path)


def forget_seed_parts() -> None:
    """Drop the kept seed parts (:func:`_head`): the next request from any seed plays its part."""
    with _HEADS_LOCK:
        _HEADS.clear()


def render_continuations(takes: Sequence[Score], shared_until: int, options: RenderOptions | None = None,
                         soundfont: str | os.PathLike[str] | None = None,
                         then: Callable[[Rendered], T] | None = None) -> list[Rendered] | list[T]:
    """Render takes that all begin with the same notes (a seed continued several ways), in order.

    The notes that start before step ``shared_until`` (the seed's) play once, and are kept
    for the next request from the same seed (:func:`_head`); each take's later notes play
    on their own from there, and each take is the mix of the two. Synthesis is linear in
    the notes (each note is voices of its own, summed, then reverb and chorus, linear
    filters too), so the mix is the music of the whole take: without effects it is :func:`render`'s to within -80 dB;
    with them, the reverb's slow internal modulation runs at another phase in the later
    part, which moves the waveform (about -18 dB) but not the sound (the spectrum's energy
    in every band within 0.2 dB; ``tests/test_audio.py`` checks both). Takes whose early
    notes differ, and the built-in synth, are rendered whole by :func:`render_many`.

    ``then``, when given, is applied to each take in the worker that rendered it, as soon
    as it is ready (encoding, say), and its results are returned instead: one take's
    encoding overlaps the others' synthesis.
    """
    options = options or RenderOptions()
    openings = {tuple(n for n in t.notes if n.start < shared_until) for t in takes}
    try:
        path = find_soundfont(soundfont)
        POOL.check_library()
    except (SoundFontNotFound, SynthUnavailable):
        path = None
    if path is None or len(takes) < 2 or len(openings) != 1 or shared_until <= 0:
        rendered = render_many(takes, options, soundfont)
        return rendered if then is None else _map(then, rendered)
    longest = max(takes, key=lambda t: t.length)
    # FluidSynth starts notes on its 64-sample blocks: a later part starts on a block
    # boundary of the whole take, so every note sounds at the very sample it would.
    seconds_per_step = 60.0 / ((options.bpm or longest.bpm) * longest.steps_per_beat)
    offset = round(shared_until * seconds_per_step * options.sample_rate) // BLOCK * BLOCK
    shared = _seed_part(longest, shared_until, options)
    parts = []
    for take in takes:
        e = _events(take.with_notes([n for n in take.notes if n.start >= shared_until], length=take.length), options)
        parts.append(NoteEvents(e.times - offset, e.ons, e.channels, e.pitches, e.velocities, e.programs,
                                e.n_samples - offset))

    def finish(part: NoteEvents, tail: np.ndarray) -> Rendered | T:
        seed_part = head.result()
        mix = np.zeros((part.n_samples + offset, 2), dtype=np.float32)
        n = min(len(seed_part), len(mix))
        mix[:n] = seed_part[:n]
        mix[offset:] += tail
        rendered = Rendered(_finish(mix, options), options.sample_rate, f"FluidSynth with {path.name}")
        return rendered if then is None else then(rendered)

    def play(part: NoteEvents) -> Rendered | T | _Unmixed:
        tail = _render_fluidsynth(part, options, path, 1)
        # A take played before the seed's part is mixed at the end: its worker moves on to the next.
        return finish(part, tail) if head.done() else _Unmixed(tail)

    with ThreadPoolExecutor(max_workers=min(len(takes) + 1, POOL.size)) as workers:
        head = workers.submit(_head, shared, options, path)
        played = list(workers.map(play, parts))
    return [finish(part, p.tail) if isinstance(p, _Unmixed) else p for part, p in zip(parts, played, strict=True)]


class _Unmixed(NamedTuple):
    tail: np.ndarray  # a take's own notes, played before the seed's part was ready


def _map(function: Callable[[Rendered], T], rendered: Sequence[Rendered]) -> list[T]:
    """``function`` of each, on every core."""
    with ThreadPoolExecutor(max_workers=min(len(rendered), POOL.size) or 1) as workers:
        return list(workers.map(function, rendered))


MIME_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg"}
# What the app plays while the musician waits for it (takes, harmonizations, seeds): 16-bit
# WAV at 32 kHz. What FluidR3 plays lies below its 16 kHz (above it, 46 to 83 dB down in the
# examples' renders), and a render at 32 kHz takes a quarter less time; a WAV takes no time to
# encode (FLAC's fastest level took a fifth of a take's), and at 32 kHz is about the size the
# 44.1 kHz FLAC players had (4.3 against 3.8 MB for 33 s). Downloads play at 44.1 kHz (:func:`wav_file`).
PLAYER_RATE = 32_000
PLAYER_FORMAT = "wav"
# Audio made ahead and kept (the listening test's excerpts): FLAC at 44.1 kHz, a third of the
# player's WAV; Ogg Vorbis is smaller still but encodes slower than FluidSynth renders (`make bench`).
KEPT_FORMAT = "flac"


def player_options(program: int | None = None, bpm: float | None = None) -> RenderOptions:
    """How the app's players play a score (:data:`PLAYER_RATE`; ``program`` and ``bpm`` as in
    :class:`RenderOptions`)."""
    return RenderOptions(sample_rate=PLAYER_RATE, program=program, bpm=bpm)


def encode(rendered: Rendered, fmt: str = "wav") -> bytes:
    """Audio file bytes: ``"wav"`` (16-bit PCM), ``"flac"`` or ``"ogg"`` (Vorbis)."""
    pcm = np.clip(rendered.audio, -1.0, 1.0)
    if fmt in ("wav", "flac"):  # 16-bit samples, rounded here (libsndfile's own conversion is slower)
        pcm = np.round(pcm * 32767).astype("<i2")
    if fmt == "wav":
        return _wav(pcm, rendered.sample_rate)
    if fmt in ("flac", "ogg"):
        import soundfile

        buffer = io.BytesIO()
        # FLAC at its fastest level: a third less time than the default for a third more bytes
        # (still half the WAV's size); for an app on a laptop, the CPU is what the request waits for.
        soundfile.write(buffer, pcm, rendered.sample_rate, format=fmt.upper(),
                        subtype="PCM_16" if fmt == "flac" else "VORBIS",
                        **({"compression_level": 0.0} if fmt == "flac" else {}))
        return buffer.getvalue()
    raise ValueError(f"Unknown audio format {fmt!r}; use one of {', '.join(MIME_TYPES)}.")


def wav_file(score: Score, program: int | None = None) -> bytes:
    """The WAV a musician downloads: the score at 44.1 kHz, 16-bit (``program`` as in
    :class:`RenderOptions`). Made when the download is asked for: a take's is 6 MB."""
    return encode(render(score, RenderOptions(program=program)), "wav")


def _wav(samples: np.ndarray, sample_rate: int) -> bytes:
    """WAV bytes of 16-bit samples, ``(n_samples, channels)``."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(samples.shape[1])
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


def describe_renderer(soundfont: str | os.PathLike[str] | None = None) -> tuple[str, str | None]:
    """What :func:`render` will play with: ``(renderer, notice or None)``."""
    try:
        path = find_soundfont(soundfont)
        POOL.check_library()
    except (SoundFontNotFound, SynthUnavailable) as exc:
        return "built-in synth", str(exc)
    return f"FluidSynth with {path.name}", None
