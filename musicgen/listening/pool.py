"""Excerpt pairs for the listening test, made ahead of time in a pool.

A pair comes from one held-out piece of the model's corpus (a piece it never trained
on): its first ``seed_bars`` bars are the seed; the next ``excerpt_bars`` bars are the
human excerpt; the model continues the same seed for as many bars, and that
continuation is the machine excerpt. Both are played on one track, with the same
instrument, velocity, tempo and length, so only the notes tell them apart.

Making a pair means generating and rendering, so pairs are made before anyone waits
for them: :meth:`ExcerptPool.fill` makes the first ones, :meth:`ExcerptPool.top_up_async`
adds more in a background thread while people listen.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import random
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Any

from ..audio import KEPT_FORMAT, RenderOptions, encode, render, render_many
from ..corpus import Piece, score_from_dict, split_of
from ..errors import MusicgenError
from ..generate import LoadedModel, generate
from ..modelcorpus import CorpusSpec, CorpusUnknown, corpus_spec, load_spec
from ..paths import data_dir
from ..sampling import SampleParams
from ..score import Score
from .quiz import ROUNDS

CACHE_VERSION = 1
VELOCITY = 80  # every excerpt note: dynamics must not give the answer away


class ListeningUnavailable(MusicgenError):
    """The listening test cannot be made for this model; the message says why."""


@dataclass(frozen=True)
class ListeningSetup:
    """How excerpts are cut and generated (recorded with every answer)."""

    seed_bars: int = 2  # bars of the held-out piece the model continues
    excerpt_bars: int = 4  # bars each listener hears, human and machine alike
    temperature: float = SampleParams.temperature  # as Compose's defaults
    top_p: float = SampleParams.top_p
    avoid_copies: bool = True  # the copy guard, as Compose runs it: once the model's copy index is built


@dataclass(frozen=True)
class ExcerptPair:
    """A human and a machine excerpt from the same seed, ready to play."""

    pair_id: str  # "<piece>|<random seed>"
    piece: str  # the held-out piece's name in its corpus
    human: Score
    machine: Score
    params: SampleParams  # what generated the machine excerpt
    setup: ListeningSetup
    human_audio: bytes = b""  # in ``audio_format``; empty when made without audio
    machine_audio: bytes = b""
    audio_format: str = KEPT_FORMAT


# ----------------------------------------------------------------- held-out pieces
def corpus_of(model: LoadedModel) -> CorpusSpec:
    """The corpus the model learned from, as its card names it.

    Raises
    ------
    ListeningUnavailable
        When the card names neither a built-in corpus nor a folder of MIDI files that is here.
    """
    try:
        return corpus_spec(model.card, model_name=model.name)
    except CorpusUnknown as exc:
        raise ListeningUnavailable(f"The listening test plays held-out pieces of the model's corpus. {exc}") from None


def held_out_pieces(spec: CorpusSpec, steps_per_beat: int, at_least: int,
                    cache: bool = True) -> tuple[list[Piece], bool]:
    """Test-split pieces of a corpus, and whether there are no more to find.

    ``"jsb"`` is the benchmark's own test split; a folder of MIDI files is read whole.
    For ``"bach"`` and ``"folk"``, source files are read in the training order (only
    the first ``spec.limit``) until ``at_least`` test pieces are found, and what was
    read is cached in the data folder.
    """
    if spec.source == "jsb" or not spec.builtin:
        corpus = load_spec(spec)
        pieces = [replace(p, score=p.score.resample(steps_per_beat)) for p in corpus.pieces if p.split == "test"]
        return pieces, True
    from ..corpus import _builtin_sources, _parse_source  # the exact names and scores training saw

    corpus = spec.source
    sources = _builtin_sources(corpus)[:spec.limit]
    path = data_dir() / "cache" / f"listening-{corpus}-{steps_per_beat}-v{CACHE_VERSION}.json"
    state: dict[str, Any] = {"read": [], "pieces": []}
    if cache and path.is_file():
        with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
            loaded = json.loads(path.read_text())
            if isinstance(loaded.get("read"), list) and isinstance(loaded.get("pieces"), list):
                state = loaded
    allowed = set(sources)
    read = set(state["read"])
    found = sum(name.split("#", 1)[0] in allowed for name, _ in state["pieces"])
    for source in sources:
        if found >= at_least:
            break
        if source in read:
            continue
        # A chorale file is one piece named after the file: only test-split files can hold test pieces.
        if corpus == "bach" and split_of(source) != "test":
            read.add(source)
            continue
        ok, _ = _parse_source((corpus, source, steps_per_beat))
        new = [[name, d] for name, d in ok if split_of(name) == "test"]
        state["pieces"] += new
        found += len(new)
        read.add(source)
    state["read"] = sorted(read)
    if cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(state))
            os.replace(tmp, path)
        except OSError:
            pass  # a cache that cannot be written only costs time
    pieces = [Piece(name, score_from_dict(d)) for name, d in state["pieces"]
              if name.split("#", 1)[0] in allowed]
    return pieces, read >= allowed


# ----------------------------------------------------------------- excerpts
def _window(score: Score, start: int, stop: int) -> Score:
    """Steps ``[start, stop)``; a note sounding at ``start`` is struck again there (as when
    playback starts mid-piece), so the human excerpt begins as fully as the machine's."""
    notes = [replace(n, start=max(n.start, start) - start, duration=min(n.end, stop) - max(n.start, start))
             for n in score.notes if n.start < stop and n.end > start]
    return replace(score, notes=tuple(notes), length=stop - start)


def as_excerpt(score: Score, program: int) -> Score:
    """One track with ``program``, every note at the same velocity."""
    merged = score.merge_tracks(program=program, name="Excerpt")
    return merged.with_notes([replace(n, velocity=VELOCITY) for n in merged.notes], length=merged.length)


def _range_of(model: LoadedModel) -> tuple[int, int] | None:
    lowest, n = getattr(model.config, "lowest", None), getattr(model.config, "n_pitches", None)
    return (lowest, lowest + n) if lowest is not None and n is not None else None


def usable(score: Score, model: LoadedModel, setup: ListeningSetup) -> bool:
    """Whether a piece is long enough, has music in every bar of both parts, and stays in
    the pitches the model can write (else the range alone would tell)."""
    bar = score.steps_per_bar
    end = (setup.seed_bars + setup.excerpt_bars) * bar
    if score.length < end or not score.has_pitched_notes:
        return False
    sounding = score.piano_roll()[:end].any(axis=1)
    if not all(sounding[b * bar:(b + 1) * bar].any() for b in range(setup.seed_bars + setup.excerpt_bars)):
        return False
    bounds = _range_of(model)
    return bounds is None or all(bounds[0] <= n.pitch < bounds[1] for n in score.notes if n.start < end)


def make_pair(model: LoadedModel, piece: Piece, setup: ListeningSetup, random_seed: int,
              audio: bool = True, parallel: bool = True) -> ExcerptPair:
    """One pair: the piece's next bars after its seed, and the model's continuation of that seed.

    ``parallel`` renders the two excerpts at once; without it they render one after the
    other on the calling thread (what a background thread should do: it then needs no
    worker threads, which Python refuses to start while the interpreter shuts down).
    """
    score = piece.score.resample(getattr(model.config, "steps_per_beat", piece.score.steps_per_beat))
    bar = score.steps_per_bar
    seed_end, end = setup.seed_bars * bar, (setup.seed_bars + setup.excerpt_bars) * bar
    program = next((t.program for t in score.tracks if not t.is_drum), 0)
    seed = score.crop(0, seed_end)
    from ..originality import copy_guard_ready

    params = SampleParams(bars=setup.excerpt_bars, temperature=setup.temperature, top_p=setup.top_p,
                          n_variations=1, random_seed=random_seed,
                          avoid_copies=setup.avoid_copies and copy_guard_ready(model))
    take = generate(model, seed, params)[0]  # the seed, then the new bars on a track of their own
    human = as_excerpt(_window(score, seed_end, end), program)
    machine = as_excerpt(take.crop(seed.length, seed.length + (end - seed_end)), program)
    pair = ExcerptPair(f"{piece.name}|{random_seed}", piece.name, human, machine, params, setup)
    if not audio:
        return pair
    options = RenderOptions(program=program)
    rendered = (render_many([human, machine], options) if parallel
                else [render(s, options, parallel=False) for s in (human, machine)])
    return replace(pair, human_audio=encode(rendered[0], KEPT_FORMAT),
                   machine_audio=encode(rendered[1], KEPT_FORMAT))


# ----------------------------------------------------------------- the pool
class ExcerptPool:
    """Pairs of one model, made ahead and shared (read-only) by every listener.

    Each usable held-out piece gives at most one pair, in an order shuffled by
    ``seed``. ``finder(n)``, when given, reads more of the corpus for at least ``n``
    held-out pieces: a background top-up calls it when the pool runs out of pieces.
    Thread-safe.
    """

    def __init__(self, model: LoadedModel, pieces: list[Piece], setup: ListeningSetup | None = None,
                 seed: int = 0, audio: bool = True, finder: Callable[[int], list[Piece]] | None = None) -> None:
        self.model, self.setup, self.audio, self._finder = model, setup or ListeningSetup(), audio, finder
        self._rng = random.Random(seed)
        self._seen: set[str] = set()
        self._todo: list[tuple[Piece, int]] = []  # popped from the end
        self.capacity = 0  # pairs this pool can make from the pieces it knows
        self._pairs: dict[str, ExcerptPair] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._add(pieces)

    def _add(self, pieces: list[Piece]) -> None:
        """Queue the usable pieces not seen before, in a seeded random order, after those queued."""
        grid = getattr(self.model.config, "steps_per_beat", None)
        with self._lock:
            fresh = sorted((p for p in pieces if p.name not in self._seen), key=lambda p: p.name)
            self._seen.update(p.name for p in fresh)
        fresh = [p for p in fresh if usable(p.score.resample(grid or p.score.steps_per_beat), self.model, self.setup)]
        with self._lock:
            self._rng.shuffle(fresh)
            self._todo[:0] = [(p, self._rng.randrange(2**31)) for p in reversed(fresh)]
            self.capacity += len(fresh)

    def __len__(self) -> int:
        with self._lock:
            return len(self._pairs)

    def pair_ids(self) -> list[str]:
        """The ids of the pairs ready now."""
        with self._lock:
            return list(self._pairs)

    def pair(self, pair_id: str) -> ExcerptPair:
        """A ready pair by id."""
        with self._lock:
            return self._pairs[pair_id]

    def _make_one(self, parallel: bool) -> bool:
        with self._lock:
            if not self._todo:
                return False
            piece, random_seed = self._todo.pop()
        try:
            pair = make_pair(self.model, piece, self.setup, random_seed, self.audio, parallel)
        except (MusicgenError, ValueError) as exc:  # one odd piece: leave it out, keep going
            logging.getLogger(__name__).warning("no excerpt pair from %s: %s", piece.name, exc)
            return True
        with self._lock:
            self._pairs[pair.pair_id] = pair
        return True

    def fill(self, n: int, parallel: bool = True) -> int:
        """Make pairs until ``n`` are ready (or every usable piece has one); returns how many are."""
        while len(self) < n and not self._stop.is_set() and self._make_one(parallel):
            pass
        return len(self)

    def top_up_async(self, more: int) -> None:
        """Make ``more`` pairs in a background thread (one at a time; a no-op while one runs)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            target = len(self._pairs) + more
            self._thread = threading.Thread(target=self._top_up, args=(target,), name="excerpt-pool", daemon=True)
            self._thread.start()
        atexit.register(self.stop)

    def _top_up(self, target: int) -> None:
        if self._finder is not None and self.capacity < target:
            self._add(self._finder(2 * target))
        self.fill(target, parallel=False)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a background top-up to finish."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def stop(self) -> None:
        """Stop topping up after the pair being made (called at exit)."""
        self._stop.set()
        self.wait(30)


class PoolWarmup:
    """Pools made ahead, in a background thread, before anyone asks for a quiz.

    :meth:`start` returns at once with the pool's future (one per ``key``: a model
    and the date of its weights); the pool is made with ``rounds`` pairs ready.
    Listeners share the pools; a failure (e.g. :class:`ListeningUnavailable`) is
    kept in the future and raised by ``result()``.
    """

    def __init__(self, rounds: int = ROUNDS) -> None:
        self.rounds = rounds
        self._lock = threading.Lock()
        self._jobs: dict[Hashable, Future[ExcerptPool]] = {}
        self._workers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="excerpt-warmup")

    def start(self, key: Hashable, model: LoadedModel) -> Future[ExcerptPool]:
        """The future pool of ``model``; the first call for ``key`` starts making it."""
        with self._lock:
            if key not in self._jobs:
                self._jobs[key] = self._workers.submit(self._make, model)
            return self._jobs[key]

    def _make(self, model: LoadedModel) -> ExcerptPool:
        pool = pool_for(model, rounds=self.rounds)
        pool.fill(self.rounds, parallel=False)  # one core: the app's own requests keep the other
        return pool


def pool_for(model: LoadedModel, setup: ListeningSetup | None = None, rounds: int = ROUNDS,
             seed: int = 0, audio: bool = True) -> ExcerptPool:
    """A pool over the held-out pieces of the model's corpus, with enough pieces for a quiz
    (pairs are made by :meth:`ExcerptPool.fill`).

    Raises
    ------
    ListeningUnavailable
        When the model's corpus is not a built-in one, or too few held-out pieces are usable.
    """
    setup = setup or ListeningSetup()
    spec = corpus_of(model)
    steps_per_beat = getattr(model.config, "steps_per_beat", 4)
    want = rounds  # a first visit reads only as much of a built-in corpus as one quiz needs
    while True:
        pieces, exhausted = held_out_pieces(spec, steps_per_beat, want)
        finder = None if exhausted else (lambda n: held_out_pieces(spec, steps_per_beat, n)[0])
        pool = ExcerptPool(model, pieces, setup, seed, audio, finder)
        if pool.capacity >= rounds or exhausted:
            break
        want *= 2
    if pool.capacity < rounds:
        raise ListeningUnavailable(
            f"Only {pool.capacity} held-out pieces of {spec.label} are long enough for {setup.seed_bars} + "
            f"{setup.excerpt_bars} bars within this model's range; a quiz needs {rounds}.")
    return pool


def params_dict(params: SampleParams) -> dict[str, Any]:
    """SampleParams as a plain dict (for the database)."""
    return asdict(params)
