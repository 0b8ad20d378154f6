"""Which corpus a model learned from, read from its model card.

Evaluation needs the held-out pieces of that corpus, and the copy check needs its
training pieces. The card's ``corpus`` field names it: ``"jsb"`` (the JSB Chorales
benchmark with its own split), ``"bach"`` or ``"folk"`` (music21's built-in corpora
with fixed 80/10/10 splits by piece name), optionally ``"folk (first 1098 source
files)"`` for a limited one, or a folder or zip of MIDI files. A card may also
give the exact source in ``corpus_source``; a corpus given by the caller wins over
both.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .corpus import BUILTIN, CACHE_VERSION, Corpus, load_corpus
from .errors import MusicgenError

_LIMITED = re.compile(r"^(?P<name>\w+) \(first (?P<limit>\d+) source files\)$")


class CorpusUnknown(MusicgenError):
    """The corpus a model learned from cannot be found; the message says how to name it."""


@dataclass(frozen=True)
class CorpusSpec:
    """A corpus as training read it: a built-in name or a path, and the source-file limit."""

    source: str  # "jsb", "bach", "folk", or a folder / zip of MIDI files
    limit: int | None = None  # a built-in corpus: only its first N source files

    @property
    def builtin(self) -> bool:
        return self.source in BUILTIN

    @property
    def label(self) -> str:
        """Readable, such as ``"folk (first 1098 source files)"``."""
        return self.source + (f" (first {self.limit} source files)" if self.limit else "")

    def cache_key(self) -> str:
        """Changes when the corpus could have changed: the corpus reader's version, and a folder's
        files, sizes and times."""
        text = f"{self.label}|reader v{CACHE_VERSION}"
        if not self.builtin:
            path = Path(self.source)
            files = sorted(path.rglob("*")) if path.is_dir() else [path]
            text += "|" + "|".join(f"{p}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files if p.is_file())
        return hashlib.sha1(text.encode()).hexdigest()[:16]


def corpus_spec(card: dict[str, Any], override: str | None = None, model_name: str = "this model") -> CorpusSpec:
    """The corpus of a model card (or ``override``: a built-in name or a path).

    Raises
    ------
    CorpusUnknown
        When neither names a built-in corpus nor a folder or zip that is here.
    """
    if override:
        return _spec_of(override, model_name, given=True)
    source = card.get("corpus_source")
    if source:
        return _spec_of(str(source), model_name, limit=card.get("corpus_limit"))
    return _spec_of(str(card.get("corpus", "")), model_name)


def _spec_of(text: str, model_name: str, limit: int | None = None, given: bool = False) -> CorpusSpec:
    text = text.strip()
    match = _LIMITED.match(text)
    if match and match["name"] in BUILTIN:
        return CorpusSpec(match["name"], int(match["limit"]))
    if text in BUILTIN:
        return CorpusSpec(text, int(limit) if limit else None)
    if text and Path(text).expanduser().exists():
        return CorpusSpec(str(Path(text).expanduser().resolve()))
    if given:
        raise CorpusUnknown(f"There is no corpus {text!r}: use {', '.join(BUILTIN)}, or the path of a folder "
                            "or zip of MIDI files.")
    raise CorpusUnknown(f"The card of {model_name} says it learned from {text or 'an unnamed corpus'!r}, which is "
                        "neither a built-in corpus nor a folder here. Pass --corpus PATH (the folder or zip of MIDI "
                        "files it was trained on).")


def load_spec(spec: CorpusSpec) -> Corpus:
    """The corpus, read (or taken from the cache) exactly as training read it."""
    return load_corpus(spec.source, limit=spec.limit)
