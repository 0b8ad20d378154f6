"""Home: what the studio does, and a first look and listen at a seed file."""

from __future__ import annotations

import streamlit as st

from musicgen.audio import BROWSER_FORMAT, MIME_TYPES, RenderOptions, encode, render
from musicgen.describe import describe
from musicgen.examples import list_examples
from musicgen.midi import MidiInputError, MidiLimits, load_midi


@st.cache_data(max_entries=64, show_spinner=False)
def audio_of(data: bytes, program: int | None, bpm: float | None) -> tuple[bytes, str | None]:
    """The seed as browser audio, and a notice when the built-in synth played it."""
    rendered = render(load_midi(data), RenderOptions(program=program, bpm=bpm))
    return encode(rendered, BROWSER_FORMAT), rendered.notice


st.title("musicgen studio")
st.markdown(
    "Bring a musical idea as a MIDI file, or pick one of ours. "
    "Neural networks trained on Bach chorales and folk tunes continue it and "
    "offer variations you can hear, compare and download: that happens on **Compose**. "
    "Here you can look at a seed and listen to it first."
)

st.subheader("Look at a seed, and listen")
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
        facts, listen = st.columns([3, 2])
        rows = describe(score)
        facts.table({"": [label for label, _ in rows], "value": [value for _, value in rows]})
        with listen:
            tempo = st.slider("Tempo (BPM)", 30, 240, round(min(max(score.bpm, 30), 240)))
            with st.spinner("Playing it through the synth..."):
                sound, notice = audio_of(data, None, None if tempo == round(score.bpm) else float(tempo))
            st.audio(sound, format=MIME_TYPES[BROWSER_FORMAT])
            if notice:
                st.info(notice, icon="🔈")
