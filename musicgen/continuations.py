"""Takes that continue one seed, played with the seed's audio rendered once and kept.

A musician draws take after take from one seed: the seed's part of the audio is the
same every time, so it is rendered once per seed, instrument and tempo (the Compose
page renders it as soon as the seed is picked) and each take's own notes are
rendered from the seed's end and mixed in.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple, TypeVar

import numpy as np

from .audio import (
    Rendered,
    RenderOptions,
    SoundFontNotFound,
    _events,
    _finish,
    _render_fluidsynth,
    find_soundfont,
    render_many,
)
from .errors import SynthUnavailable
from .score import Score
from .synths import BLOCK, POOL, NoteEvents

T = TypeVar("T")

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
    path = _fluidsynth_soundfont(soundfont)
    if path is not None:
        _head(_seed_part(seed, seed.padded_to_bar().length, options), options, path)


def _fluidsynth_soundfont(soundfont: str | os.PathLike[str] | None) -> Path | None:
    """The SoundFont FluidSynth plays with, or None without FluidSynth or a SoundFont (the built-in synth)."""
    try:
        path = find_soundfont(soundfont)
        POOL.check_library()
    except (SoundFontNotFound, SynthUnavailable):
        return None
    return path


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
    filters too), so the mix is the music of the whole take: without effects it is
    :func:`~musicgen.audio.render`'s to within -80 dB; with them, the reverb's slow
    internal modulation runs at another phase in the later part, which moves the
    waveform (about -18 dB) but not the sound (the spectrum's energy in every band
    within 0.2 dB; ``tests/test_continuations.py`` checks both). Takes whose early notes
    differ, and the built-in synth, are rendered whole by :func:`~musicgen.audio.render_many`.

    ``then``, when given, is applied to each take in the worker that rendered it, as soon
    as it is ready (encoding, say), and its results are returned instead: one take's
    encoding overlaps the others' synthesis.
    """
    options = options or RenderOptions()
    openings = {tuple(n for n in t.notes if n.start < shared_until) for t in takes}
    path = _fluidsynth_soundfont(soundfont)
    if path is None or len(takes) < 2 or len(openings) != 1 or shared_until <= 0:
        return render_many(takes, options, soundfont, then)
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
