"""Compose: continue a seed with a model, hear the variations side by side, keep the best."""

from __future__ import annotations

import pretty_midi
import streamlit as st

from musicgen.audio import BROWSER_FORMAT, MIME_TYPES
from musicgen.errors import MusicgenError
from musicgen.midi import score_to_bytes
from musicgen.models.registry import list_models
from musicgen.plots import piano_roll_png
from musicgen.sampling import MAX_BARS, MAX_VARIATIONS, SampleParams
from musicgen.score import PITCH_CLASS_NAMES
from pages.common import cached_model, pick_seed, read_seed, seed_audio, takes_audio


def keep_take(index: int) -> None:
    """Make a take the next seed (a callback: it runs before the widgets are drawn)."""
    take = st.session_state["takes"][index][0]
    st.session_state["next_seed"] = (f"Take {index + 1}", score_to_bytes(take))
    st.session_state["compose-source"] = "The take I kept"


st.title("Compose")
st.caption("Give the model a seed; it writes what comes next. Every take keeps your seed as it is.")

models = list_models()
if not models:
    st.info("There is no model yet. Train one with `python -m musicgen train --model rnn --corpus bach`.")
    st.stop()

picked = pick_seed("compose")
seed = read_seed(*picked) if picked else None
if seed is not None:
    seed_name, seed_data = picked
    with st.expander(f"Seed: {seed_name} ({seed.n_bars} bars, {seed.bpm:g} BPM)", expanded=False):
        st.image(piano_roll_png(seed, title=seed_name))
        sound, notice = seed_audio(seed_data, None, None)
        st.audio(sound, format=MIME_TYPES[BROWSER_FORMAT])

with st.form("settings"):
    left, middle, right = st.columns(3)
    names = [m.name for m in models]
    labels = {m.name: f"{m.name} — {m.card.get('description', m.card.get('family', ''))}" for m in models}
    model_name = left.selectbox("Model", names, format_func=labels.get)
    family = next(m.card.get("family", "rnn") for m in models if m.name == model_name)
    bars = left.slider("Bars to add", 1, MAX_BARS, 8)
    variations = left.slider("Variations", 1, MAX_VARIATIONS, 4)
    temperature = middle.slider("Temperature", 0.0, 2.0, 1.0, 0.05,
                                help="0 always picks the likeliest note; higher is more adventurous.")
    top_p = middle.slider("Top-p", 0.05, 1.0, 0.95, 0.05, help="Leave out the unlikeliest notes.")
    noise = middle.slider("Noise", 0.0, 2.0, 0.5, 0.05, disabled=family != "gan",
                          help="How far a GAN's variations stray from the seed (GAN models only).")
    keys = ["Off", "The seed's key"] + [f"{p} {m}" for m in ("major", "minor") for p in PITCH_CLASS_NAMES]
    key = right.selectbox("Key lock", keys, help="Keep new notes in one key's scale.")
    polyphony = right.slider("Most notes at once", 1, 8, 8, help="8 lets the model decide.")
    random_seed = right.number_input("Random seed", 0, 2**31 - 1, 0, help="The same seed gives the same takes.")
    programs = ["As in the seed"] + [f"{p}: {pretty_midi.program_to_instrument_name(p)}" for p in range(128)]
    instrument = right.selectbox("Play with", programs)
    go = st.form_submit_button("Generate", type="primary", disabled=seed is None)

if go and seed is not None:
    try:
        params = SampleParams(
            bars=bars, temperature=temperature, top_p=top_p, noise=noise, n_variations=variations,
            random_seed=int(random_seed), max_polyphony=None if polyphony == 8 else polyphony,
            key_lock=None if key == "Off" else "auto" if key == "The seed's key" else key)
        with st.status("Composing...", expanded=False) as status:
            from musicgen.generate import generate

            model = cached_model(model_name)
            takes = generate(model, seed, params)
            status.update(label="Playing the takes through the synth...")
            program = None if instrument == programs[0] else programs.index(instrument) - 1
            audio = takes_audio(takes, program, None)
            status.update(label=f"{len(takes)} takes ready", state="complete")
        st.session_state["takes"] = [(take, sound, wav, len(seed.tracks)) for take, (sound, wav) in zip(
            takes, audio, strict=True)]
        st.session_state["takes_name"] = f"{seed_name.rsplit('.', 1)[0]}-{model_name}"
    except MusicgenError as exc:
        st.error(str(exc), icon="⚠️")

takes = st.session_state.get("takes", [])
if takes:
    st.subheader("Takes")
    st.caption("Grey: your seed. Blue: what the model wrote.")
    base = st.session_state.get("takes_name", "take")
    for row in range(0, len(takes), 2):
        for column, index in zip(st.columns(2), range(row, min(row + 2, len(takes))), strict=False):
            take, sound, wav, first_new = takes[index]
            with column:
                st.image(piano_roll_png(take, first_new, f"Take {index + 1}"))
                st.audio(sound, format=MIME_TYPES[BROWSER_FORMAT])
                a, b, c = st.columns(3)
                a.download_button("MIDI", score_to_bytes(take), f"{base}-{index + 1}.mid", "audio/midi",
                                  key=f"mid-{index}")
                b.download_button("WAV", wav, f"{base}-{index + 1}.wav", "audio/wav", key=f"wav-{index}")
                c.button("Use as seed", key=f"seed-{index}", help="Keep extending from this take.",
                         on_click=keep_take, args=(index,))
