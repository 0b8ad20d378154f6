"""Takes: the takes kept in this session, compared A/B, reordered, joined and downloaded."""

from __future__ import annotations

import streamlit as st

from musicgen.audio import MIME_TYPES, PLAYER_FORMAT, wav_file
from musicgen.errors import MusicgenError
from musicgen.midi import score_to_bytes
from musicgen.plots import piano_roll_png
from musicgen.score import Score
from musicgen.takes import Take, join_takes, move, takes_zip
from musicgen.ui.common import ensure_navigation, kept_takes, seed_audio

ensure_navigation(__file__)


def shift(index: int, offset: int) -> None:
    st.session_state["kept"] = move(kept_takes(), index, offset)


def drop(index: int) -> None:
    kept = kept_takes()
    kept.pop(index)


@st.cache_data(max_entries=4, show_spinner="Packing the takes...")
def archive(takes: tuple[Take, ...], with_audio: bool) -> bytes:
    """The zip of the kept takes, made once per set of takes (rendering WAVs is the slow part)."""
    return takes_zip(takes, wav_file if with_audio else None)


def listen(score: Score, new_from_track: int | None, title: str) -> None:
    st.image(piano_roll_png(score, new_from_track, title))
    sound, _ = seed_audio(score_to_bytes(score), None, None)
    st.audio(sound, format=MIME_TYPES[PLAYER_FORMAT])


st.title("Takes")
kept = kept_takes()
if not kept:
    st.info("No takes kept yet. On **Compose**, press ⭐ Keep under the takes you like: they gather here, "
            "to compare, put in order, join into one piece and download.")
    st.stop()

names = [t.name for t in kept]
st.subheader("Compare")
a_col, b_col = st.columns(2)
a = a_col.selectbox("A", range(len(kept)), format_func=names.__getitem__, key="take-a")
b = b_col.selectbox("B", range(len(kept)), index=min(1, len(kept) - 1), format_func=names.__getitem__,
                    key="take-b")
with a_col:
    listen(kept[a].score, kept[a].new_from_track, f"A: {kept[a].name}")
with b_col:
    listen(kept[b].score, kept[b].new_from_track, f"B: {kept[b].name}")

st.subheader("Order")
st.caption("The joined piece plays the takes in this order.")
for index, take in enumerate(kept):
    name, model, up, down, remove = st.columns([5, 3, 1, 1, 1], vertical_alignment="center")
    name.markdown(f"**{index + 1}. {take.name}** · {take.score.n_bars} bars")
    model.caption(take.model or "")
    up.button("↑", key=f"up-{index}", on_click=shift, args=(index, -1), disabled=index == 0, help="Earlier")
    down.button("↓", key=f"down-{index}", on_click=shift, args=(index, 1), disabled=index == len(kept) - 1,
                help="Later")
    remove.button("✕", key=f"drop-{index}", on_click=drop, args=(index,), help="Remove from the takes")

st.subheader("Join")
chosen = st.multiselect("Takes to join, in order", range(len(kept)), default=list(range(len(kept))),
                        format_func=lambda i: f"{i + 1}. {names[i]}", key="join")
if chosen:
    try:
        joined = join_takes([kept[i].score for i in sorted(chosen)])
        listen(joined, None, f"{len(chosen)} takes joined ({joined.n_bars} bars)")
        st.download_button("Joined piece (MIDI)", score_to_bytes(joined), "joined.mid", "audio/midi",
                           key="joined-mid", icon=":material/download:", on_click="ignore")
    except MusicgenError as exc:
        st.error(str(exc), icon="⚠️")

st.subheader("Download")
with_audio = st.toggle("Include WAV audio (slower, larger)", value=False, key="zip-audio")
try:
    st.download_button(f"All {len(kept)} takes (.zip)", archive(tuple(kept), with_audio), "musicgen-takes.zip",
                       "application/zip", key="zip", type="primary", icon=":material/folder_zip:",
                       on_click="ignore")
except MusicgenError as exc:
    st.error(str(exc), icon="⚠️")
