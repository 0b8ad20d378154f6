"""Home: what the studio does, a one-click try, the studio's status, and a first listen at a seed."""

from __future__ import annotations

import streamlit as st

from musicgen.audio import MIME_TYPES, PLAYER_FORMAT, describe_renderer
from musicgen.describe import describe
from musicgen.examples import list_examples
from musicgen.models.registry import list_models
from musicgen.sampling import choose_device, describe_device
from musicgen.ui.common import ensure_navigation, pick_seed, read_seed, seed_audio

TRY_EXAMPLE, TRY_MODEL = "bach-chorale", "rnn-jsb"  # file name start, model name


def try_it() -> None:
    """Compose with a bundled chorale and the Bach model, at the default settings."""
    examples = list_examples()
    st.session_state["compose-source"] = "A bundled example"
    st.session_state["compose-example"] = next((t for t, p in examples.items() if p.name.startswith(TRY_EXAMPLE)),
                                               next(iter(examples)))
    models = list_models()
    chosen = next((m for m in models if m.name == TRY_MODEL), models[0] if models else None)
    if chosen is not None:
        st.session_state["family"] = chosen.card.get("family", "rnn")
        st.session_state["model"] = chosen.name
    st.session_state["try_it"] = True


st.title("musicgen studio")
st.markdown(
    "Bring a musical idea as a MIDI file, or pick one of ours. "
    "Neural networks trained on Bach chorales and folk tunes continue it and offer variations "
    "you can see, hear, compare and download. "
    "You can also train a model in the style of your own music, and test your ears against the machine."
)

ensure_navigation(__file__)
if st.button("Try it: continue a Bach chorale", type="primary", icon="▶️", key="try-it", on_click=try_it):
    st.switch_page("pages/compose.py")

models = list_models()
renderer, notice = describe_renderer()
status = st.columns(3)
status[0].metric("Models run on", describe_device(choose_device()))
status[1].metric("Sound", renderer.removeprefix("FluidSynth with "), help=f"Audio is played by {renderer}.")
status[2].metric("Models", len(models), help=", ".join(m.name for m in models) or "none yet")
if notice:
    st.info(notice, icon="🔈")

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
        st.audio(sound, format=MIME_TYPES[PLAYER_FORMAT])
        if notice:
            st.info(notice, icon="🔈")
