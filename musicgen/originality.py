"""Originality: the longest passage of a piece copied from a model's training music.

A musician must not be handed a copy of someone else's tune. The melody of a piece
(its top voice, :func:`musicgen.metrics.top_voice`) becomes a sequence of tokens,
one per note after the first: (interval from the note before in semitones, length
in beats, rest before it in beats). Matching tokens ignores the key, so a
transposed copy is a copy. Every run of at least :data:`MIN_NOTES` tokens that
also occurs in a training piece is found through an index of the training
pieces' token n-grams; the longest, measured in bars of the checked piece, is the
copied passage, and :data:`FLAG_BARS` bars or more flags the piece.

The index is built once per corpus and kept in the process (and, for built-in
corpora and MIDI folders, on disk in the data folder's ``cache``), so checking a
take takes milliseconds after the first call::

    check = originality_of(take, "rnn-folk", start_step=seed.padded_to_bar().length)
    if check.flagged: ...
"""

from __future__ import annotations

import itertools
import json
import os
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .corpus import Corpus
from .errors import MusicgenError
from .metrics import top_voice
from .modelcorpus import CorpusSpec, corpus_spec, load_spec
from .paths import ASSETS, data_dir
from .score import Score

__all__ = ["FLAG_BARS", "MIN_NOTES", "CopyCheck", "CopyIndex", "copy_guard_ready", "copy_index", "copy_index_key",
           "melody_tokens", "originality_of"]

FLAG_BARS = 2.0  # a copied passage this long (in bars) or longer flags the piece
MIN_NOTES = 4  # shorter runs (4 intervals and lengths = 5 pitches) are too common to call a copy
INDEX_VERSION = 1
SHIPPED_INDEXES = ASSETS / "copy-index"  # the shipped models' indexes (small: 60 KB to 1.5 MB)
_HASH_BASE = np.uint64(0x9E3779B97F4A7C15)

Token = tuple[int, Fraction, Fraction]  # (interval, length in beats, rest before in beats)


@dataclass(frozen=True)
class CopyCheck:
    """The longest passage of a piece that also occurs in the training music."""

    bars: float  # its length in bars of the checked piece (0.0: no run of MIN_NOTES notes matches)
    notes: int  # melody notes in it
    start_step: int | None  # where it starts in the checked piece
    source: str | None  # the training piece it occurs in
    flagged: bool  # bars >= FLAG_BARS

    def to_dict(self) -> dict[str, Any]:
        return {"bars": self.bars, "notes": self.notes, "start_step": self.start_step, "source": self.source,
                "flagged": self.flagged}


def melody_tokens(score: Score) -> tuple[list[Token], np.ndarray, np.ndarray]:
    """Tokens of the top voice, and each token's note start and end in steps.

    Token ``i`` describes melody note ``i + 1``: its interval from note ``i``, its
    length and the rest before it, in beats (so grids of any resolution compare).
    """
    melody = top_voice(score)
    spb = score.steps_per_beat
    tokens = [(b.pitch - a.pitch, Fraction(b.duration, spb), Fraction(b.start - a.end, spb))
              for a, b in itertools.pairwise(melody)]
    starts = np.array([n.start for n in melody[1:]], dtype=np.int64)
    ends = np.array([n.end for n in melody[1:]], dtype=np.int64)
    return tokens, starts, ends


def _gram_keys(ids: np.ndarray, k: int) -> np.ndarray:
    """A 64-bit hash of every ``k``-gram of ``ids``; 0 (never indexed) where one holds an unknown (-1)."""
    n = len(ids) - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint64)
    with np.errstate(over="ignore"):
        keys = np.zeros(n, dtype=np.uint64)
        for j in range(k):
            keys = keys * _HASH_BASE + (ids[j:j + n].astype(np.int64) + 1).astype(np.uint64)
    unknown = np.lib.stride_tricks.sliding_window_view(ids, k).min(axis=1) < 0
    keys[unknown] = 0
    return keys


class CopyIndex:
    """Every :data:`MIN_NOTES`-gram of the training pieces' melody tokens, for fast look-up."""

    def __init__(self, names: list[str], vocab: list[Token], seq: np.ndarray, offsets: np.ndarray) -> None:
        self.names, self.vocab, self.seq, self.offsets = names, vocab, seq, offsets
        self._ids = {tok: i for i, tok in enumerate(vocab)}
        keys = np.concatenate([_gram_keys(seq[a:b], MIN_NOTES) for a, b in itertools.pairwise(offsets)]
                              or [np.zeros(0, np.uint64)])
        positions = np.concatenate([np.arange(a, max(a, b - MIN_NOTES + 1)) for a, b in itertools.pairwise(offsets)]
                                   or [np.zeros(0, np.int64)])
        keep = keys != 0
        order = np.argsort(keys[keep], kind="stable")
        self.keys, self.positions = keys[keep][order], positions[keep][order].astype(np.int64)

    @classmethod
    def build(cls, pieces: list[tuple[str, Score]]) -> CopyIndex:
        """An index of some (name, score) pieces."""
        vocab: dict[Token, int] = {}
        names, chunks, offsets = [], [], [0]
        for name, score in pieces:
            tokens, _, _ = melody_tokens(score)
            if len(tokens) < MIN_NOTES:
                continue
            chunks.append(np.array([vocab.setdefault(t, len(vocab)) for t in tokens], dtype=np.int32))
            names.append(name)
            offsets.append(offsets[-1] + len(tokens))
        seq = np.concatenate(chunks) if chunks else np.zeros(0, np.int32)
        return cls(names, list(vocab), seq, np.array(offsets, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.names)

    # ----------------------------------------------------------------- checking
    def check(self, score: Score, start_step: int = 0) -> CopyCheck:
        """The longest copied passage of ``score`` among notes starting at ``start_step`` or later.

        The note just before ``start_step`` still gives the first interval, so a
        continuation is checked in the context of its seed.
        """
        tokens, starts, ends = melody_tokens(score)
        none = CopyCheck(0.0, 0, None, None, False)
        ids = np.array([self._ids.get(t, -1) for t in tokens], dtype=np.int64)
        keys = _gram_keys(ids, MIN_NOTES)
        keys[starts[: len(keys)] < start_step] = 0
        lo, hi = np.searchsorted(self.keys, keys, "left"), np.searchsorted(self.keys, keys, "right")
        lo[keys == 0] = hi[keys == 0]
        counts = hi - lo
        if not counts.sum():
            return none
        q = np.repeat(np.arange(len(keys)), counts)  # query gram of each hit
        first = np.repeat(lo, counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
        g = self.positions[first]  # training position of each hit
        window = np.arange(MIN_NOTES)
        real = (self.seq[g[:, None] + window] == ids[q[:, None] + window]).all(axis=1)  # drop hash collisions
        q, g = q[real], g[real]
        if not q.size:
            return none
        diagonal = g - q
        order = np.lexsort((q, diagonal))
        q, g, diagonal = q[order], g[order], diagonal[order]
        new_run = np.r_[True, (diagonal[1:] != diagonal[:-1]) | (q[1:] != q[:-1] + 1)]
        run_id = np.cumsum(new_run) - 1
        run_first = q[new_run]
        run_last = np.maximum.reduceat(q, np.flatnonzero(new_run)) + MIN_NOTES - 1
        span = ends[run_last] - starts[run_first]
        best = int(np.argmax(span))
        bars = float(span[best] / score.steps_per_bar)
        where = g[np.flatnonzero(run_id == best)[0]]
        piece = int(np.searchsorted(self.offsets, where, "right") - 1)
        return CopyCheck(round(bars, 3), int(run_last[best] - run_first[best] + 1), int(starts[run_first[best]]),
                         self.names[piece], bars >= FLAG_BARS)

    # ----------------------------------------------------------------- disk cache
    def save(self, path: Path) -> None:
        """Write the index as plain arrays (``.npz``) and JSON; no pickles."""
        vocab = json.dumps([[i, d.numerator, d.denominator, r.numerator, r.denominator] for i, d, r in self.vocab])
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, seq=self.seq, offsets=self.offsets, names=np.array(json.dumps(self.names)),
                 vocab=np.array(vocab), version=np.array(INDEX_VERSION))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> CopyIndex | None:
        """An index written by :meth:`save`, or None when it is missing, damaged or old."""
        try:
            with np.load(path, allow_pickle=False) as data:
                if int(data["version"]) != INDEX_VERSION:
                    return None
                rows = json.loads(str(data["vocab"]))
                vocab = [(i, Fraction(dn, dd), Fraction(rn, rd)) for i, dn, dd, rn, rd in rows]
                return cls(json.loads(str(data["names"])), vocab, data["seq"], data["offsets"])
        except (OSError, ValueError, KeyError):
            return None


_CACHE: dict[str, CopyIndex] = {}
_LOCK = threading.Lock()


def _card_of(model: Any) -> tuple[dict[str, Any], str]:
    card = getattr(model, "card", None)
    if isinstance(card, dict):
        return card, str(getattr(model, "name", "this model"))
    from .models.registry import resolve_model

    folder = resolve_model(model)
    path = folder / "card.json"
    return (json.loads(path.read_text()) if path.is_file() else {}), folder.name


def copy_index(model: Any = None, corpus: str | CorpusSpec | None = None, loaded: Corpus | None = None) -> CopyIndex:
    """The index of a model's training pieces, built once per corpus and process.

    ``model`` is a model name, folder or loaded model (its card names the corpus);
    ``corpus`` overrides the card; ``loaded`` is that corpus when the caller has
    read it already. The first call for a corpus reads it (or the index cached in
    the data folder) and can take seconds; later calls are instant.
    """
    spec = _spec_of(model, corpus)
    key = spec.cache_key()
    with _LOCK:
        index = _ready_index(key)
        if index is None:
            loaded = loaded or load_spec(spec)
            train = {id(s) for s in loaded.split("train")}  # the very pieces training read
            index = CopyIndex.build([(p.name, p.score) for p in loaded.pieces if id(p.score) in train])
            index.save(_index_path(key))
        _CACHE[key] = index
        return index


def copy_index_key(model: Any) -> str:
    """What identifies a model's copy index: its corpus (models of one corpus share one index).

    Raises ``CorpusUnknown`` when the model's card names no corpus found here.
    """
    return _spec_of(model, None).cache_key()


def ready_copy_index(model: Any) -> CopyIndex | None:
    """A model's copy index if it is in this process or cached on disk (milliseconds), else None:
    then only :func:`copy_index` builds it, which reads the corpus."""
    key = copy_index_key(model)
    with _LOCK:
        index = _ready_index(key)
        if index is not None:
            _CACHE[key] = index
        return index


def copy_guard_ready(model: Any) -> bool:
    """Whether the copy guard can run for ``model`` without reading its corpus: its index is in
    this process, cached on disk or shipped (False too for a card naming no corpus found here)."""
    try:
        return ready_copy_index(model) is not None
    except MusicgenError:
        return False


def _spec_of(model: Any, corpus: str | CorpusSpec | None) -> CorpusSpec:
    if isinstance(corpus, CorpusSpec):
        return corpus
    card, name = _card_of(model) if model is not None else ({}, "this model")
    return corpus_spec(card, corpus, name)


def _ready_index(key: str) -> CopyIndex | None:
    """The index in this process, in the data folder's cache, or shipped with the app (in that order)."""
    if key in _CACHE:
        return _CACHE[key]
    for path in (_index_path(key), _shipped_path(key)):
        index = CopyIndex.load(path) if path.is_file() else None
        if index is not None:
            return index
    return None


def _index_path(key: str) -> Path:
    return data_dir() / "cache" / f"copy-index-v{INDEX_VERSION}-{key}.npz"


def _shipped_path(key: str) -> Path:
    return SHIPPED_INDEXES / f"copy-index-v{INDEX_VERSION}-{key}.npz"


def ship_copy_index(model: str) -> Path:
    """Build a shipped model's copy index (or take it from the cache) and write it to
    ``assets/copy-index`` (``make copy-indexes``), so that a fresh server checks and guards
    that model's takes at once instead of reading its corpus first."""
    path = _shipped_path(copy_index_key(model))
    copy_index(model).save(path)
    return path


def originality_of(score: Score, model: Any, start_step: int = 0, corpus: str | None = None) -> CopyCheck:
    """The longest passage of ``score`` (from ``start_step`` on) copied from ``model``'s training music.

    Parameters
    ----------
    score
        A take: the seed and the new music, or the new music alone.
    model
        A model name, folder or loaded model; its card names the corpus it learned from.
    start_step
        Where the new music starts (the seed's padded length): only passages from
        there on count, so a seed the user brought is never held against the model.
    corpus
        The corpus instead of the card's: a built-in name or a folder of MIDI files.
    """
    return copy_index(model, corpus).check(score, start_step)


def warm_copy_index(model: str) -> None:
    """Build a model's copy index and its cache on disk, returning nothing (for a worker process:
    an app builds it there, away from the server's threads, then loads the cache in a second)."""
    copy_index(model)


def build_in_subprocess(model: str, timeout: float = 1800.0) -> None:
    """Build a model's copy index on disk in a process of its own (``python -m musicgen.originality``).

    A plain entry point: a multiprocessing worker would import the parent's main
    module again, which in a Streamlit server is a page. The process ends itself
    when this one ends (see :func:`_exit_with_parent`), so a stopped server leaves
    nothing reading corpora behind.

    Raises
    ------
    OriginalityError
        When the build fails; the message has the worker's last line.
    """
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "musicgen.originality", model, str(os.getpid())],
                          capture_output=True, text=True, timeout=timeout, check=False,
                          start_new_session=True)  # its own process group, which it ends whole
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise OriginalityError(f"Reading the training music of {model} failed ({last}).")


class OriginalityError(MusicgenError):
    """The copy index of a model could not be built."""


def _exit_with_parent(parent: int) -> None:
    """End this process's group (this process and the workers it started to read the corpus)
    within a second of ``parent`` ending (it is then reparented). Call it in a process that
    leads its own group (``start_new_session``)."""
    import signal
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.killpg(os.getpgid(0), signal.SIGKILL)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


if __name__ == "__main__":
    import sys

    if sys.argv[1] == "--ship":  # python -m musicgen.originality --ship MODEL... (make copy-indexes)
        for name in sys.argv[2:]:
            print(f"wrote {ship_copy_index(name)}")
    else:  # python -m musicgen.originality MODEL PARENT_PID (see build_in_subprocess)
        _exit_with_parent(int(sys.argv[2]))
        warm_copy_index(sys.argv[1])
