"""Audio: a Score played by FluidSynth with a General MIDI SoundFont, as WAV bytes.

One place finds the SoundFont (:func:`find_soundfont`); ``synths.py`` plays the
note events, safely from many threads at once.

When libfluidsynth or a SoundFont is missing, a small additive synth in numpy plays
the music instead, and :class:`Rendered` says which renderer was used and why.
"""

from __future__ import annotations

import io
import os
import wave
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from .errors import INSTALL_HINT, SoundFontNotFound, SynthUnavailable
from .score import Score
from .synths import DRUM_CHANNEL, POOL, SAMPLE_RATE, NoteEvents, additive

__all__ = [
    "RenderOptions",
    "Rendered",
    "SoundFontNotFound",
    "encode",
    "find_soundfont",
    "render",
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
                soundfont: str | os.PathLike[str] | None = None,
                then: Callable[[Rendered], T] | None = None) -> list[Rendered] | list[T]:
    """Render several Scores at once, one synth each, on every core; in order.

    Each score is played by one synth (``render(..., parallel=False)``): with the
    cores busy with other scores, splitting one would only add work. ``then``, when
    given, is applied to each score's audio in the worker that rendered it (encoding,
    say), and its results are returned instead.
    """
    def play(score: Score, parallel: bool = False) -> Rendered | T:
        rendered = render(score, options, soundfont, parallel=parallel)
        return rendered if then is None else then(rendered)

    if len(scores) <= 1:
        return [play(s, parallel=True) for s in scores]
    with ThreadPoolExecutor(max_workers=min(len(scores), POOL.size)) as workers:
        return list(workers.map(play, scores))


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
