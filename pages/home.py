"""Home: what the studio does, and a first look and listen at a seed file."""

from __future__ import annotations

import streamlit as st

from musicgen.audio import BROWSER_FORMAT, MIME_TYPES
from musicgen.describe import describe
from pages.common import pick_seed, read_seed, seed_audio

st.title("musicgen studio")
st.markdown(
    "Bring a musical idea as a MIDI file, or pick one of ours. "
    "Neural networks trained on Bach chorales and folk tunes continue it and "
    "offer variations you can hear, compare and download: that happens on **Compose**. "
    "Here you can look at a seed and listen to it first."
)

st.subheader("Look at a seed, and listen")
picked = pick_seed("home")
score = read_seed(*picked) if picked else None
if score is not None:
    facts, listen = st.columns([3, 2])
    rows = describe(score)
    facts.table({"": [label for label, _ in rows], "value": [value for _, value in rows]})
    with listen:
        tempo = st.slider("Tempo (BPM)", 30, 240, round(min(max(score.bpm, 30), 240)))
        with st.spinner("Playing it through the synth..."):
            sound, notice = seed_audio(picked[1], None, None if tempo == round(score.bpm) else float(tempo))
        st.audio(sound, format=MIME_TYPES[BROWSER_FORMAT])
        if notice:
            st.info(notice, icon="🔈")
