"""Home: what the studio does, and a first look at a seed file."""

from __future__ import annotations

import streamlit as st

from musicgen.examples import list_examples
from musicgen.midi import MidiInputError, MidiLimits, load_midi
from musicgen.score import describe

st.title("musicgen studio")
st.markdown(
    "Bring a musical idea as a MIDI file, or pick one of ours. "
    "Neural networks trained on Bach chorales and folk tunes continue it and "
    "offer variations you can hear, compare and download."
)

st.subheader("Look at a seed")
limits = MidiLimits.from_env()
examples = list_examples()
source = st.radio("Seed", ["A bundled example", "My own MIDI file"], horizontal=True,
                  label_visibility="collapsed")
data: bytes | None = None
name = ""
if source == "A bundled example":
    name = st.selectbox("Example", list(examples))
    if name:
        data = examples[name].read_bytes()
else:
    upload = st.file_uploader(
        f"MIDI file (.mid, up to {limits.max_bytes / 2**20:g} MB)", type=["mid", "midi"])
    if upload is not None:
        name, data = upload.name, upload.getvalue()

if data is not None:
    try:
        score = load_midi(data, limits=limits)
    except MidiInputError as exc:
        st.error(f"{name}: {exc}", icon="⚠️")
    else:
        rows = describe(score)
        st.table({"": [label for label, _ in rows], "value": [value for _, value in rows]})
