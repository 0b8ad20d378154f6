"""Widgets and cached resources that several pages share (not a page itself)."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import streamlit as st

from musicgen.audio import PLAYER_FORMAT, encode, player_options, render
from musicgen.continuations import prepare_continuations
from musicgen.examples import list_examples
from musicgen.generate import LoadedModel, load_model
from musicgen.midi import MidiInputError, MidiLimits, load_midi
from musicgen.models.registry import resolve_model
from musicgen.score import Score
from musicgen.takes import Take

NAVIGATION_READY, DEEP_LINK = "navigation-ready", "deep-link"


def ensure_navigation(page_file: str) -> None:
    """Send a page opened by a deep link on a just-started server through app.py.

    Until one session has run app.py's ``st.navigation``, Streamlit serves a URL such
    as ``/compose`` from the ``pages/`` folder on its own: no sidebar, and a list of
    every file there. Such a run goes to app.py, which remembers where it was headed
    and goes on there. A page run on its own (AppTest, ``streamlit run pages/x.py``)
    is left alone.
    """
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None or NAVIGATION_READY in st.session_state or Path(ctx.main_script_path).name != "app.py":
        return
    st.session_state[DEEP_LINK] = Path(page_file).stem
    st.switch_page("app.py")


@st.cache_resource(show_spinner="Loading the model...", max_entries=8)
def _load_model(name: str, stamp: float) -> LoadedModel:
    return load_model(name)


def cached_model(name: str) -> LoadedModel:
    """Each model is loaded once per server and shared read-only by every session.

    The weights' modification time is part of the cache key, so a model retrained
    under the same name on the Train page is loaded afresh.
    """
    weights = resolve_model(name) / "model.safetensors"
    return _load_model(name, weights.stat().st_mtime if weights.is_file() else 0.0)


def kept_takes() -> list[Take]:
    """The takes this session kept (Compose adds, Takes reorders and joins)."""
    return st.session_state.setdefault("kept", [])


@st.cache_data(max_entries=128, show_spinner=False)
def seed_audio(data: bytes, program: int | None, bpm: float | None) -> tuple[bytes, str | None]:
    """A MIDI file as the player's audio, and a notice when the built-in synth played it."""
    rendered = render(load_midi(data), player_options(program, bpm))
    return encode(rendered, PLAYER_FORMAT), rendered.notice


_AHEAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="seed-audio")
AHEAD_SECONDS = 120.0


@st.cache_resource(max_entries=16, show_spinner=False)
def seed_audio_ahead(data: bytes, bpm: float, program: int | None) -> Future[None]:
    """The seed's part of its takes' audio, played in the background as soon as the seed, the
    tempo and the instrument are known, so that the first **Generate** finds it ready
    (:func:`musicgen.continuations.prepare_continuations`); once per seed and settings, and only for
    seeds of up to :data:`AHEAD_SECONDS` (a part is kept in memory: 1.3 MB a second)."""
    seed = replace(load_midi(data), bpm=bpm)
    if seed.duration_seconds > AHEAD_SECONDS:
        return _AHEAD.submit(lambda: None)
    return _AHEAD.submit(prepare_continuations, seed, player_options(program))


def pick_seed(key: str) -> tuple[str, bytes] | None:
    """A seed from a bundled example, an upload, or the take kept as the next seed.

    Returns ``(name, MIDI bytes)``, or None while there is nothing to use.
    """
    limits = MidiLimits.from_env()
    examples = list_examples()
    options = ["A bundled example", "My own MIDI file"]
    kept = st.session_state.get("next_seed")
    if kept:
        options.insert(0, "The take I kept")
    source = st.radio("Seed", options, horizontal=True, key=f"{key}-source", label_visibility="collapsed")
    if source == "The take I kept" and kept:
        return kept
    if source == "A bundled example":
        name = st.selectbox("Example", list(examples), key=f"{key}-example")
        return (name, examples[name].read_bytes()) if name else None
    upload = st.file_uploader(f"MIDI file (.mid, up to {limits.max_bytes / 2**20:g} MB)", type=["mid", "midi"],
                              key=f"{key}-upload", max_upload_size=limits.upload_mb)
    return (upload.name, upload.getvalue()) if upload is not None else None


def read_seed(name: str, data: bytes) -> Score | None:
    """The seed as a Score, or an error on the page (never a traceback)."""
    try:
        return load_midi(data, limits=MidiLimits.from_env())
    except MidiInputError as exc:
        st.error(f"{name}: {exc}", icon="⚠️")
        return None
