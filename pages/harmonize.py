"""Harmonize: alto, tenor and bass under your melody; keep what you like and rewrite the rest."""

from __future__ import annotations

import logging
from functools import partial

import streamlit as st

from musicgen.audio import MIME_TYPES, PLAYER_FORMAT, wav_file
from musicgen.errors import MusicgenError
from musicgen.harmonize import (
    MelodyError,
    can_harmonize,
    extract_melody,
    harmonize,
    melody_key,
    melody_track,
    pitched_tracks,
    reharmonize,
)
from musicgen.lock import Lock, locked_notes
from musicgen.midi import score_to_bytes
from musicgen.models.registry import list_models
from musicgen.plots import piano_roll_png
from musicgen.sampling import MAX_VARIATIONS, SampleParams
from musicgen.score import Score
from musicgen.takes import file_stem, play_takes
from musicgen.ui.common import cached_model, ensure_navigation, pick_seed, read_seed, seed_audio
from musicgen.ui.lock_widget import lock_controls

ensure_navigation(__file__)


def show_error(exc: Exception) -> None:
    """A problem the musician can fix, or a plain note (details in the server log)."""
    if isinstance(exc, MusicgenError):
        st.error(str(exc), icon="⚠️")
    else:
        logging.getLogger(__name__).exception("harmonizing failed")
        st.error("Something went wrong while harmonizing. Try other settings or another melody; "
                 "if it happens again, the server log has the details.", icon="⚠️")


def keep_results(takes: list[Score], kept: list, name: str) -> None:
    """Render the results and put them in the session, with the notes that were kept."""
    audio = play_takes(takes)
    st.session_state["harmonies"] = {"takes": list(zip(takes, audio, strict=True)),
                                     "kept": kept, "name": name}


def settings() -> SampleParams:
    """The settings of the form, as they are now."""
    state = st.session_state
    return SampleParams(n_variations=state["h-variations"], temperature=state["h-temperature"],
                        noise=state["h-noise"], random_seed=int(state["h-random-seed"]))


st.title("Harmonize")
st.caption("Bring a tune: a model writes alto, tenor and bass under it, in the style of the music it learned. "
           "Your melody stays exactly as it is.")

models = [m for m in list_models() if can_harmonize(m.card.get("family", "rnn"))]
if not models:
    st.info("There is no model that can harmonize yet: train one on the Train page (the Bach chorales suit).")
    st.stop()

picked = pick_seed("harmonize")
source = read_seed(*picked) if picked else None
melody = None
if source is not None:
    name = picked[0]
    try:
        tracks = pitched_tracks(source)
        track = melody_track(source)
        if len(tracks) > 1:
            track = st.selectbox("Track with the melody", tracks, index=tracks.index(track), key="h-track",
                                 format_func=lambda i: f"{i}: {source.tracks[i].name or 'untitled'}")
        melody = extract_melody(source, track)
    except MelodyError as exc:
        st.error(f"{name}: {exc}", icon="⚠️")
if melody is not None:
    with st.expander(f"Melody: {name} ({melody.n_bars} bars, {melody_key(melody).name})", expanded=False):
        st.image(piano_roll_png(melody, title=name, locked=melody.notes))
        sound, _ = seed_audio(score_to_bytes(melody), None, None)
        st.audio(sound, format=MIME_TYPES[PLAYER_FORMAT])

with st.form("harmonize-settings"):
    left, right = st.columns(2)
    labels = {m.name: f"{m.name} — {m.card.get('description', '')}" for m in models}
    names = sorted(labels, key=lambda n: n != "rnn-jsb")  # the chorale model first
    model_name = left.selectbox("Model (style)", names, format_func=labels.get, key="h-model")
    variations = left.slider("Harmonizations", 1, MAX_VARIATIONS, 4, key="h-variations")
    right.slider("Temperature (RNN models)", 0.0, 2.0, 0.5, 0.05, key="h-temperature",
                 help="0 always picks the likeliest note; higher is more adventurous. "
                      "0.5 came nearest Bach's own voices in the harmonization benchmark.")
    right.slider("Noise (GAN models)", 0.0, 2.0, 0.5, 0.05, key="h-noise",
                 help="How far the harmonizations stray from the one the model finds most typical for your "
                      "melody: at 0 they are all the same.")
    right.number_input("Random seed", 0, 2**31 - 1, 0, key="h-random-seed",
                       help="The same seed and settings give the same harmonizations.")
    go = st.form_submit_button("Harmonize", type="primary", disabled=melody is None)

if go and melody is not None:
    try:
        with st.spinner("Writing the voices..."):
            takes = harmonize(cached_model(model_name), melody, settings())
            keep_results(takes, list(melody.notes), f"{file_stem(name.rsplit('.', 1)[0])}-{model_name}")
    except Exception as exc:  # every failure is shown on the page, never as a traceback
        show_error(exc)

results = st.session_state.get("harmonies")
if results:
    st.subheader("Harmonizations")
    st.caption("Red: what is kept as it was (your melody). Blue: the voices the model wrote.")
    kept = set(results["kept"])
    for row in range(0, len(results["takes"]), 2):
        for column, index in zip(st.columns(2), range(row, min(row + 2, len(results["takes"]))), strict=False):
            take, sound = results["takes"][index]
            with column, st.container(border=True):
                st.image(piano_roll_png(take, 1, f"Harmonization {index + 1}", locked=kept))
                st.audio(sound, format=MIME_TYPES[PLAYER_FORMAT])
                a, b = st.columns(2)
                stem = f"{results['name']}-{index + 1}"
                a.download_button("MIDI", score_to_bytes(take), f"{stem}.mid", "audio/midi", key=f"h-mid-{index}",
                                  icon=":material/download:", on_click="ignore")
                b.download_button("WAV", partial(wav_file, take), f"{stem}.wav", "audio/wav", key=f"h-wav-{index}",
                                  icon=":material/download:", on_click="ignore")

    st.subheader("Keep what you like, rewrite the rest")
    st.caption("Pick a harmonization, the bars and voices to keep; the model rewrites the others around them "
               "(the melody always stays).")
    which = st.selectbox("Harmonization", range(len(results["takes"])), key="h-which",
                         format_func=lambda i: f"Harmonization {i + 1}")
    chosen = results["takes"][which][0]
    lock = lock_controls(chosen, "h-lock", tracks=range(1, len(chosen.tracks)), track_label="Keep voices")
    if st.button("Rewrite the rest", key="h-rewrite", disabled=not (lock.bars or lock.tracks)):
        try:
            with st.spinner("Rewriting..."):
                takes = reharmonize(cached_model(model_name), chosen, lock, settings())
                kept_notes = locked_notes(chosen, Lock(bars=lock.bars, tracks=(0, *lock.tracks)))
                keep_results(takes, kept_notes, f"{results['name']}-rewrite")
        except Exception as exc:  # every failure is shown on the page, never as a traceback
            show_error(exc)
        else:
            st.rerun()  # draw the new harmonizations above
