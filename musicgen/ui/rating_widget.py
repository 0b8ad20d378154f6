"""Rating Compose takes (1 to 5 stars and a comment), and the listening database as pages
use it: opened once per server, and never in the way when it cannot be used."""

from __future__ import annotations

import uuid

import streamlit as st

from musicgen.listening.db import MAX_COMMENT, ListeningDB, ListeningDBError, default_path
from musicgen.lock import Lock
from musicgen.sampling import SampleParams
from musicgen.score import Score


def listener_id() -> str:
    """This browser session's anonymous id: a random UUID, nothing about the person."""
    return st.session_state.setdefault("listener_id", str(uuid.uuid4()))


@st.cache_resource(show_spinner=False)
def _open_db(path: str) -> ListeningDB:
    return ListeningDB(path)


def listening_db(warn: bool = True) -> ListeningDB | None:
    """The listening database, or None (and a warning on the page) when it cannot be used."""
    try:
        return _open_db(str(default_path()))
    except ListeningDBError as exc:
        if warn:
            st.warning(f"{exc} Until then, nothing you answer or rate is saved.", icon="💾")
        return None


def remember_takes(model: str, params: SampleParams, seed_name: str, seed: Score, program: int | None,
                   lock: Lock | None = None) -> None:
    """What made the current takes, so that a rating records it (call once per generation).

    ``lock``: the takes rewrite ``seed`` (a take), keeping these bars and tracks.
    """
    st.session_state["rating_context"] = {"generation": uuid.uuid4().hex, "model": model, "params": params,
                                          "seed_name": seed_name, "seed": seed, "program": program, "lock": lock}


def _save(index: int, key: str) -> None:
    """Store the rating of take ``index`` (a button callback)."""
    from musicgen.listening.ratings import make_rating, weights_sha256

    notes = st.session_state.setdefault("rating_notes", {})
    stars = st.session_state.get(f"{key}-stars")
    context = st.session_state.get("rating_context")
    if stars is None or context is None:
        notes[key] = "Pick 1 to 5 stars first."
        return
    db = listening_db(warn=False)
    if db is None:
        notes[key] = "Not saved: the listening database cannot be used (see the Listen page)."
        return
    try:
        db.add_rating(make_rating(listener_id(), f"{context['generation']}/{index}", context["model"], stars + 1,
                                  index, context["params"], context["seed_name"], context["seed"],
                                  context["program"], st.session_state.get(f"{key}-comment"),
                                  context.get("lock"), weights_sha256(context["model"])))
    except ListeningDBError as exc:
        notes[key] = f"Not saved: {exc}"
        return
    notes[key] = f"Saved: {'★' * (stars + 1)}{'☆' * (4 - stars)}. Thank you!"


def rate_take(index: int) -> None:
    """Stars, a comment and a save button for take ``index`` of the current generation."""
    context = st.session_state.get("rating_context")
    if context is None:
        return
    key = f"rate-{context['generation']}-{index}"
    with st.popover("Rate", icon=":material/star_rate:", help="How good is this take? 1 to 5 stars."):
        st.feedback("stars", key=f"{key}-stars")
        st.text_input("Comment (optional)", key=f"{key}-comment", max_chars=MAX_COMMENT,
                      placeholder="What works, what does not? No names or addresses, please.")
        st.button("Save rating", key=f"rate-save-{index}", on_click=_save, args=(index, key))
    note = st.session_state.get("rating_notes", {}).get(key)
    if note:
        st.caption(note)
