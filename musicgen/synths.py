"""The two ways to play note events: FluidSynth with a SoundFont, or a numpy synth.

FluidSynth crashes or hangs when two threads drive one synth (FluidSynth issues
#1256 and #1728), so nothing is shared between threads: a render borrows a loaded
SoundFont from the pool, plays on a synth of its own, and gives the SoundFont back.
Loading FluidR3 takes about a tenth of a second, so loaded SoundFonts are kept.
Several renders run in parallel; FluidSynth releases the GIL while it computes.
"""

from __future__ import annotations

import ctypes
import os
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import INSTALL_HINT, SoundFontNotFound, SynthUnavailable
from .midi import DRUM_CHANNEL

SAMPLE_RATE = 44100
BLOCK = 64  # FluidSynth renders in blocks of this many samples; a note starts on the next one
CHORUS_SEND = 15  # the SoundFont generator of a voice's chorus send (GEN_CHORUSSEND)
QUIET = 1e-6  # -120 dB: a render ends early once its voices have ended and it is this far below its peak
QUIET_BLOCK = 4096  # samples played at a time after the last note-off, checked for silence
PROBE_VOICES = 512  # voices of the synth that reads a preset's chorus sends (128 notes at a time)


@dataclass(frozen=True)
class NoteEvents:
    """Note events in sample time, ready for any renderer."""

    times: np.ndarray  # (E,) sample index of each event, ascending
    ons: np.ndarray  # (E,) True for note-on (offs come first at equal times)
    channels: np.ndarray  # (E,)
    pitches: np.ndarray  # (E,)
    velocities: np.ndarray  # (E,)
    programs: dict[int, int]  # channel -> GM program
    n_samples: int


# ----------------------------------------------------------------- FluidSynth
def _load_fluidsynth():  # -> the pyfluidsynth module
    try:
        import fluidsynth
    except (ImportError, OSError) as exc:
        raise SynthUnavailable(
            "FluidSynth is not installed. Install it with `sudo apt-get install libfluidsynth3` "
            "(or `make run`, which does it)."
        ) from exc
    return fluidsynth


class _Lib:
    """The few libfluidsynth calls that pyfluidsynth does not wrap."""

    def __init__(self) -> None:
        fl = _load_fluidsynth()
        vp, c_int, fptr = ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)
        self.fl = fl
        self.write_float = fl.cfunc(
            "fluid_synth_write_float", c_int, ("synth", vp, 1), ("len", c_int, 1),
            ("lout", fptr, 1), ("loff", c_int, 1), ("lincr", c_int, 1),
            ("rout", fptr, 1), ("roff", c_int, 1), ("rincr", c_int, 1))
        self.get_sfont = fl.cfunc("fluid_synth_get_sfont_by_id", vp, ("synth", vp, 1), ("id", c_int, 1))
        self.add_sfont = fl.cfunc("fluid_synth_add_sfont", c_int, ("synth", vp, 1), ("sfont", vp, 1))
        self.remove_sfont = fl.cfunc("fluid_synth_remove_sfont", c_int, ("synth", vp, 1), ("sfont", vp, 1))
        self.fx_on = {name: fl.cfunc(f"fluid_synth_{name}_on", c_int, ("synth", vp, 1),
                                     ("fx_group", c_int, 1), ("on", c_int, 1))
                      for name in ("reverb", "chorus")}
        self.voicelist = fl.cfunc("fluid_synth_get_voicelist", None, ("synth", vp, 1),
                                  ("buf", ctypes.POINTER(vp), 1), ("bufsize", c_int, 1), ("id", c_int, 1))
        self.active_voices = fl.cfunc("fluid_synth_get_active_voice_count", c_int, ("synth", vp, 1))
        self.voice_gen = fl.cfunc("fluid_voice_gen_get", ctypes.c_float, ("voice", vp, 1), ("gen", c_int, 1))
        set_log = fl.cfunc("fluid_set_log_function", vp, ("level", c_int, 1), ("fun", vp, 1), ("data", vp, 1))
        for level in (2, 3, 4):  # warnings, info and debug would go to stderr of the server
            set_log(level, None, None)


_LIB: _Lib | None = None
_CHORUS: dict[tuple[Path, int, int], bool] = {}  # (SoundFont, bank, program) -> sends to the chorus
_CHORUS_LOCK = threading.Lock()
_LIB_LOCK = threading.Lock()


def _lib() -> _Lib:
    global _LIB
    with _LIB_LOCK:
        if _LIB is None:
            _LIB = _Lib()
        return _LIB


def _new_synth(lib: _Lib, sample_rate: int):  # -> fluidsynth.Synth
    # One FluidSynth thread per synth. Its multi-core mode (synth.cpu-cores) renders
    # a quarter faster alone, but garbles the output when several synths run at once
    # (tests/test_audio.py caught it): parallel renders use the cores instead.
    return lib.fl.Synth(gain=0.5, samplerate=float(sample_rate), channels=16)


class _LoadedSoundFont:
    """A SoundFont parsed once and kept; lent to one render at a time (see the pool).

    Each render plays on a brand-new synth that borrows this SoundFont (2 ms to
    make): FluidSynth keeps state across renders that a reset does not clear (the
    reverb's modulation phase, voice history), so a reused synth would play the
    same score slightly differently each time. A fresh synth makes every render of
    a score identical, whoever rendered before.
    """

    def __init__(self, path: Path) -> None:
        self.lib = _lib()
        self.path = path
        # Samples load on demand, so memory holds only the presets played (a few MB,
        # not FluidR3's 141). The holder keeps each preset it has played selected on
        # a channel of its own: a preset nobody selects would be unloaded after every
        # render and read again for the next (20 ms each time).
        self.holder = self.lib.fl.Synth(gain=0.5, samplerate=float(SAMPLE_RATE), channels=256,
                                        **{"synth.dynamic-sample-loading": 1})
        self.sfid = self.holder.sfload(str(path), 1)
        if self.sfid < 0:
            self.holder.delete()
            raise SoundFontNotFound(f"FluidSynth could not read the SoundFont {path}. {INSTALL_HINT}")
        self.sfont = self.lib.get_sfont(self.holder.synth, self.sfid)
        self._pinned: set[tuple[int, int]] = set()
        self._pin([(0, 0), (128, 0)])  # what a new synth selects by default

    def _pin(self, presets: list[tuple[int, int]]) -> None:
        for bank, program in presets:
            if (bank, program) not in self._pinned:
                channel = program + (128 if bank == 128 else 0)  # melodic 0..127, kits 128..255
                self.holder.program_select(channel, self.sfid, bank, program)
                self._pinned.add((bank, program))

    def sends_to_chorus(self, bank: int, program: int) -> bool:
        """Whether any note of the preset sends to the chorus (found once per SoundFont and preset).

        FluidR3 sends every preset to the reverb and none to the chorus; the chorus of a
        synth that nothing sends to computes silence, a tenth of a render's time. On a
        spare synth, every key is started at velocities a sixteenth apart, one velocity
        at a time, and the chorus send of each voice started is read: its generator,
        since the app never sets the chorus controller (CC 93, which adds to it) and it
        stays at 0. About 25 ms.
        """
        key = (self.path, bank, program)
        with _CHORUS_LOCK:
            if key in _CHORUS:
                return _CHORUS[key]
        lib = self.lib
        if lib.voicelist is None or lib.voice_gen is None:  # a libfluidsynth without them: keep the chorus
            return True
        synth = lib.fl.Synth(gain=0.5, samplerate=float(SAMPLE_RATE), channels=16,
                             **{"synth.polyphony": PROBE_VOICES})
        sfid = lib.add_sfont(synth.synth, self.sfont)
        voices = (ctypes.c_void_p * PROBE_VOICES)()
        scratch = (ctypes.c_float * BLOCK)()
        sends = False
        try:
            for velocity in (1, *range(16, 128, 16), 127):
                if synth.program_select(0, sfid, bank, program) < 0 and (  # as render() selects it
                        bank != 128 or synth.program_select(0, sfid, 128, 0) < 0):
                    break
                for pitch in range(128):
                    synth.noteon(0, pitch, velocity)
                lib.voicelist(synth.synth, voices, PROBE_VOICES, -1)
                # Every voice taken: some notes may have stolen others' voices; keep the chorus.
                sends = bool(voices[PROBE_VOICES - 1]) or any(v and lib.voice_gen(v, CHORUS_SEND) > 0 for v in voices)
                if sends:
                    break
                synth.system_reset()  # ends every voice (they are freed by the next block played)
                lib.write_float(synth.synth, BLOCK, scratch, 0, 1, scratch, 0, 1)
                ctypes.memset(voices, 0, ctypes.sizeof(voices))
        finally:
            lib.remove_sfont(synth.synth, self.sfont)
            synth.delete()
        with _CHORUS_LOCK:
            _CHORUS[key] = sends
        return sends

    def render(self, events: NoteEvents, effects: bool, sample_rate: int) -> np.ndarray:
        """Play the events; ``(n_samples, 2)`` float32."""
        lib = self.lib
        presets = [(128 if ch == DRUM_CHANNEL else 0, prog) for ch, prog in events.programs.items()]
        self._pin(presets)
        chorus = effects and any(self.sends_to_chorus(*preset) for preset in presets)
        synth = _new_synth(lib, sample_rate)
        sfid = lib.add_sfont(synth.synth, self.sfont)
        try:
            for name, fx in lib.fx_on.items():
                if fx is not None:
                    fx(synth.synth, -1, int(chorus if name == "chorus" else effects))
            for channel, program in events.programs.items():
                bank = 128 if channel == DRUM_CHANNEL else 0
                if synth.program_select(channel, sfid, bank, program) < 0 and bank == 128:
                    synth.program_select(channel, sfid, 128, 0)  # the standard kit
            return self._play(synth, events)
        finally:
            lib.remove_sfont(synth.synth, self.sfont)  # the synth must not free what it borrowed
            synth.delete()

    def _play(self, synth: object, events: NoteEvents) -> np.ndarray:
        out = np.zeros((events.n_samples, 2), dtype=np.float32)
        fptr = ctypes.POINTER(ctypes.c_float)
        base, write, handle = out.ctypes.data, self.lib.write_float, synth.synth  # type: ignore[attr-defined]

        def play_until(pos: int, at: int) -> None:
            left, right = ctypes.cast(base + pos * 8, fptr), ctypes.cast(base + pos * 8 + 4, fptr)
            write(handle, at - pos, left, 0, 2, right, 0, 2)

        noteon, noteoff = synth.noteon, synth.noteoff  # type: ignore[attr-defined]
        pos = 0
        for at, on, channel, pitch, velocity in zip(
                np.minimum(events.times, events.n_samples).tolist(), events.ons.tolist(),
                events.channels.tolist(), events.pitches.tolist(), events.velocities.tolist(), strict=True):
            if at > pos:
                play_until(pos, at)
                pos = at
            if on:
                noteon(channel, pitch, velocity)
            else:
                noteoff(channel, pitch)
        # After the last event: on to the end, or until every voice has ended and what the
        # reverb gives back is below -120 dB of the loudest sample (the rest stays silent).
        loudest = None
        while pos < events.n_samples:
            at = min(pos + QUIET_BLOCK, events.n_samples)
            play_until(pos, at)
            block_peak = float(np.abs(out[pos:at]).max())
            pos = at
            if self.lib.active_voices is not None and self.lib.active_voices(handle) == 0:
                loudest = float(np.abs(out[:pos]).max()) if loudest is None else loudest
                if block_peak <= QUIET * loudest:
                    break
        return out


class _SoundFontPool:
    """Up to ``size`` loaded copies of each SoundFont, each lent to one thread at a time.

    FluidSynth's SoundFont objects are not safe to share between threads (sample
    reference counts, on-demand loading), so parallel renders each borrow a copy.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._idle: dict[Path, queue.SimpleQueue[_LoadedSoundFont]] = {}
        self._made: dict[Path, int] = {}

    @staticmethod
    def check_library() -> None:
        """Raise :class:`SynthUnavailable` when libfluidsynth cannot be loaded."""
        _lib()

    @contextmanager
    def borrow(self, path: Path) -> Iterator[_LoadedSoundFont]:
        with self._lock:
            idle = self._idle.setdefault(path, queue.SimpleQueue())
            make = idle.empty() and self._made.get(path, 0) < self.size
            if make:
                self._made[path] = self._made.get(path, 0) + 1
        if make:
            try:
                loaded = _LoadedSoundFont(path)
            except Exception:
                with self._lock:
                    self._made[path] -= 1
                raise
        else:
            loaded = idle.get()  # waits until another thread gives one back
        try:
            yield loaded
        finally:
            idle.put(loaded)


def _pool_size() -> int:
    value = os.environ.get("MUSICGEN_SYNTHS")
    return max(1, int(value)) if value else max(1, min(4, os.cpu_count() or 1))


POOL = _SoundFontPool(_pool_size())


# ----------------------------------------------------------------- fallback
_HARMONICS = np.array([1.0, 0.45, 0.25, 0.12, 0.06])  # fundamental strongest


def additive(events: NoteEvents, sample_rate: int) -> np.ndarray:
    """A soft organ-like tone per note with attack/decay/release; drums as noise bursts."""
    out = np.zeros(events.n_samples, dtype=np.float64)
    attack, decay, release = int(0.005 * sample_rate), int(0.08 * sample_rate), int(0.12 * sample_rate)
    open_notes: dict[tuple[int, int], tuple[int, int]] = {}
    for at, on, channel, pitch, velocity in zip(events.times.tolist(), events.ons.tolist(),
                                                events.channels.tolist(), events.pitches.tolist(),
                                                events.velocities.tolist(), strict=True):
        if on:
            open_notes[(channel, pitch)] = (at, velocity)
            continue
        start, vel = open_notes.pop((channel, pitch), (None, 0))
        if start is None:
            continue
        held = max(1, at - start)
        n = min(held + release, events.n_samples - start)
        if n <= 0:
            continue
        t = np.arange(n)
        env = np.minimum(1.0, t / max(1, attack))
        env *= np.where(t < attack + decay, 1.0 - 0.35 * np.clip((t - attack) / decay, 0, 1), 0.65)
        env *= np.where(t < held, 1.0, np.exp(-(t - held) / (release / 5)))
        amp = (vel / 127) * 0.3
        if channel == DRUM_CHANNEL:
            noise = np.random.default_rng(pitch).standard_normal(n)
            tone = noise * np.exp(-t / (0.03 * sample_rate))
        else:
            freq = 440.0 * 2 ** ((pitch - 69) / 12)
            phase = 2 * np.pi * freq * t / sample_rate
            k = np.arange(1, len(_HARMONICS) + 1)[:, None]
            weights = np.where(k[:, 0] * freq < sample_rate / 2, _HARMONICS, 0.0)[:, None]
            tone = (weights * np.sin(k * phase)).sum(axis=0)
        out[start:start + n] += amp * env * tone
    return np.repeat(out.astype(np.float32)[:, None], 2, axis=1)
