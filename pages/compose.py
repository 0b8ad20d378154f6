"""Compose: continue a seed with a model, hear the variations side by side, keep the best."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, replace
from functools import partial

import pretty_midi
import streamlit as st

from musicgen.audio import MIME_TYPES, PLAYER_FORMAT, wav_file
from musicgen.errors import MusicgenError
from musicgen.harmonize import can_harmonize
from musicgen.lock import Lock, locked_notes
from musicgen.midi import score_to_bytes
from musicgen.model_info import draws_pitches as model_draws_pitches
from musicgen.models.registry import list_models
from musicgen.originality import (
    CopyCheck,
    build_in_subprocess,
    copy_index,
    copy_index_key,
    originality_of,
    ready_copy_index,
)
from musicgen.plots import piano_roll_png
from musicgen.sampling import MAX_BARS, MAX_VARIATIONS, SampleParams, density_threshold
from musicgen.score import PITCH_CLASS_NAMES
from musicgen.takes import Take, file_stem, show_takes
from musicgen.ui.common import (
    cached_model,
    ensure_navigation,
    kept_takes,
    pick_seed,
    read_seed,
    seed_audio,
    seed_audio_ahead,
)
from musicgen.ui.lock_widget import rewrite_controls
from musicgen.ui.rating_widget import rate_take, remember_takes

ensure_navigation(__file__)

FAMILY_LABELS = {"rnn": "RNN: continues your seed note by note", "gan": "GAN: reimagines your seed bar by bar"}
KEY_OFF, KEY_SEED = "Off", "The seed's key"
KEYS = [KEY_OFF, KEY_SEED] + [f"{p} {m}" for m in ("major", "minor") for p in PITCH_CLASS_NAMES]
PROGRAMS = ["As in the seed"] + [f"{p}: {pretty_midi.program_to_instrument_name(p)}" for p in range(128)]


def keep_take(index: int) -> None:
    """Make a take the next seed (a callback: it runs before the widgets are drawn)."""
    take = st.session_state["takes"][index][0]
    st.session_state["next_seed"] = (f"Take {index + 1}", score_to_bytes(take))
    st.session_state["compose-source"] = "The take I kept"


def save_take(index: int) -> None:
    """Put a take on the Takes page."""
    shown = st.session_state["takes"][index]
    take, first_new = shown.score, shown.first_new
    meta = st.session_state.get("takes_meta", {})
    kept = kept_takes()
    name = f"{meta.get('name', 'take')}-{index + 1}"
    if any(k.name == name and k.score == take for k in kept):
        return
    kept.append(Take(name, take, meta.get("model", ""), tuple(meta.get("settings", {}).items()), first_new))
    st.toast(f"Kept {name}: find it on Takes.", icon="⭐")


DEFAULTS = SampleParams()  # the settings every model starts from (evaluation and the listening test use them too)
COPY_CHECK_WAIT_S = 5.0  # the longest a request waits for a model's copy index that is still being built


def copy_index_future(model_name: str) -> Future:
    """The index of a model's training music, built once per server and corpus in a background thread.

    The first build reads the model's corpus, which for a large one takes a minute:
    it starts as soon as a model is chosen and never holds up a request. Models that
    learned from the same corpus (rnn-folk and gan-folk) share one build.
    """
    try:
        corpus = copy_index_key(model_name)
    except MusicgenError:  # no corpus to read: the future says why, once per model
        corpus = f"model:{model_name}"
    return _index_future(corpus, model_name)


@st.cache_resource(show_spinner=False, max_entries=8)
def _index_future(corpus: str, _model_name: str) -> Future:
    """The build of ``corpus``'s copy index, for the first model that asked (``_model_name``: not part
    of the cache's key, so later models of the same corpus share the build)."""
    model_name = _model_name
    future: Future = Future()

    def build() -> None:
        try:
            index = ready_copy_index(model_name)  # cached on disk by an earlier build: loads in milliseconds
            if index is None:  # read the corpus in a process of its own (music21 would hold the server's threads)
                build_in_subprocess(model_name)
                index = copy_index(model_name)
            future.set_result(index)
        except Exception as exc:  # kept for the request that asks: it shows why there is no check
            future.set_exception(exc)

    threading.Thread(target=build, name=f"copy-index-{model_name}", daemon=True).start()
    return future


def copy_index_ready(model_name: str) -> bool:
    """Whether the model's copy index is built, so that the copy guard can run without waiting for it."""
    future = copy_index_future(model_name)
    return future.done() and future.exception() is None


def copy_checks(model_name: str, takes: list, new_from: int) -> list[CopyCheck | str]:
    """For each take, its longest passage copied from the training music (or why there is no check yet)."""
    try:
        copy_index_future(model_name).result(timeout=COPY_CHECK_WAIT_S)
        return [originality_of(take, model_name, start_step=new_from) for take in takes]
    except FutureTimeout:
        return ["Copy check: still reading the music this model learned from; "
                "it shows here with your next click."] * len(takes)
    except MusicgenError as exc:  # e.g. a model whose training files are gone
        return [f"No copy check: {exc}"] * len(takes)
    except Exception:  # the takes are fine without it: say so, and keep the details for the server log
        logging.getLogger(__name__).exception("copy check failed")
        return ["No copy check this time (the server log says why)."] * len(takes)


def refresh_copy_checks(takes: list) -> None:
    """Fill in the copy checks of takes made while the model's copy index was still being built
    (on any later run of the page: a timer rerunning it would keep the takes' buttons busy)."""
    pending = st.session_state.get("copies_pending")
    if not pending or not copy_index_future(pending[0]).done():
        return
    model_name, new_from = pending
    st.session_state["takes_copies"] = copy_checks(model_name, [t[0] for t in takes], new_from)
    st.session_state["copies_pending"] = None


def rewrite(index: int, lock: Lock) -> None:
    """Rewrite take ``index`` around what ``lock`` keeps, with the settings that made it; the rewrites
    replace the takes (as many as there were variations)."""
    take = st.session_state["takes"][index][0]
    meta = st.session_state["takes_meta"]
    params = SampleParams(**meta["settings"])
    try:
        with st.status("Rewriting...", expanded=False) as status:
            from musicgen.generate import generate

            rewrites = generate(cached_model(meta["model"]), take, params, lock=lock)
            status.update(label="Playing the takes through the synth...")
            shown = show_takes(rewrites, 0, meta.get("program"), locked=locked_notes(take, lock))
            open_bars = [b for b in range(1, take.n_bars + 1) if b not in lock.bars]
            copies = copy_checks(meta["model"], rewrites, (open_bars[0] - 1) * take.steps_per_bar)
            status.update(label=f"{len(rewrites)} rewrites ready", state="complete")
    except MusicgenError as exc:
        st.error(str(exc), icon="⚠️")
        return
    except Exception:  # an unforeseen failure: a clear message here, the details in the server log
        logging.getLogger(__name__).exception("rewriting failed")
        st.error("Something went wrong while rewriting. Try keeping other bars or tracks; "
                 "if it happens again, the server log has the details.", icon="⚠️")
        return
    st.session_state["takes"] = shown
    st.session_state["takes_locked"] = locked_notes(take, lock)
    st.session_state["takes_copies"] = copies
    st.session_state["copies_pending"] = None
    meta["name"] = f"{meta['name']}-{index + 1}-rewrite"
    remember_takes(meta["model"], params, meta["name"], take, meta.get("program"), lock)
    st.rerun()


def show_copy_check(check: CopyCheck | str | None) -> None:
    if isinstance(check, str):
        st.caption(check)
    elif check is not None and check.flagged:
        st.warning(f"Copies {check.bars:g} bars of {check.source or 'a training piece'} note for note "
                   "(as its intervals and rhythm). Try another random seed or a higher temperature.", icon="⚠️")
    elif check is not None:
        bars = f"{check.bars:g} bar" + ("" if check.bars == 1 else "s")
        longest = f"the longest passage shared with it is {bars}" if check.bars else "nothing shared"
        st.caption(f"✅ Original: checked against the training music; {longest}.")


st.title("Compose")
st.caption("Give a model a seed; it writes what comes next. Every take keeps your seed as it is.")

models = list_models()
if not models:
    st.info("There is no model yet: train one on the Train page.")
    st.stop()

picked = pick_seed("compose")
seed = read_seed(*picked) if picked else None
if seed is not None:
    seed_name, seed_data = picked
    with st.expander(f"Seed: {seed_name} ({seed.n_bars} bars, {seed.bpm:g} BPM)", expanded=False):
        st.image(piano_roll_png(seed, title=seed_name))
        sound, notice = seed_audio(seed_data, None, None)
        st.audio(sound, format=MIME_TYPES[PLAYER_FORMAT])

families = sorted({m.card.get("family", "rnn") for m in models}, key=lambda f: (f != "rnn", f))  # RNN first
pick_family, pick_model = st.columns([2, 3])
family = pick_family.radio("Kind of model", families, horizontal=True, key="family",
                           format_func=lambda f: FAMILY_LABELS.get(f, f.upper()))
in_family = [m for m in models if m.card.get("family", "rnn") == family]
labels = {m.name: f"{m.name} — {m.card.get('description', '')}" for m in in_family}
model_name = pick_model.selectbox("Model (style)", list(labels), format_func=labels.get, key="model")
is_gan = family == "gan"
draws_pitches = model_draws_pitches(next(m for m in in_family if m.name == model_name))
copy_index_future(model_name)  # read the model's training music for the copy guard while the musician sets up

with st.form("settings"):
    left, middle, right = st.columns(3)
    bars = left.slider("Bars to add", 1, MAX_BARS, 8, key="bars")
    variations = left.slider("Variations", 1, MAX_VARIATIONS, 4, key="variations")
    random_seed = left.number_input("Random seed", 0, 2**31 - 1, 0, key="random_seed",
                                    help="The same seed and settings give the same takes.")
    temperature = middle.slider("Temperature", 0.0, 2.0, DEFAULTS.temperature, 0.05, disabled=not draws_pitches,
                                key="temperature", help="RNN, and GANs that write voices (gan-bach, gan-folk): 0 "
                                "always picks the likeliest note; higher is more adventurous.")
    top_p = middle.slider("Top-p", 0.05, 1.0, DEFAULTS.top_p, 0.05, disabled=not draws_pitches, key="top_p",
                          help="RNN, and GANs that write voices. Leave out the unlikeliest notes.")
    noise = middle.slider("Noise", 0.0, 2.0, 0.5, 0.05, disabled=not is_gan, key="noise",
                          help="GAN only. 0 stays nearest your seed; higher strays further.")
    key = right.selectbox("Key lock", KEYS, key="key_lock", help="Keep new notes in one key's scale.")
    polyphony = right.slider("Most notes at once", 1, 8, 8, key="polyphony", disabled=is_gan,
                             help="RNN only. 8 lets the model decide.")
    density = middle.slider("Density", 0.5, 0.8, 0.5, 0.05, disabled=not is_gan, key="density",
                            help="GAN only. 0.5 is the model's own balance; higher gives more notes.")
    instrument = right.selectbox("Play with", PROGRAMS, key="instrument", help="The instrument you hear.")
    avoid_copies = right.toggle("Redraw copies", True, key="avoid_copies",
                                help="Draw again any take that copies 2 bars or more of the music the model "
                                     "learned from (up to 3 more tries; the take copying least is kept).")
    default_bpm = round(min(max(seed.bpm, 30), 240)) if seed is not None else 100
    tempo = right.slider("Tempo (BPM)", 30, 240, default_bpm, key="tempo",
                         help="For listening and for the MIDI you download.")
    go = st.form_submit_button("Generate", type="primary", disabled=seed is None)

program = None if instrument == PROGRAMS[0] else PROGRAMS.index(instrument) - 1
if seed is not None:  # the seed's audio, played while the musician sets up
    seed_audio_ahead(seed_data, float(tempo), program)
if st.session_state.pop("try_it", False) and seed is not None:
    go = True  # Home's "Try it" button: the defaults, at once

if go and seed is not None:
    try:
        params = SampleParams(
            bars=bars, temperature=temperature, top_p=top_p, noise=noise, n_variations=variations,
            random_seed=int(random_seed), max_polyphony=None if polyphony == 8 or is_gan else polyphony,
            key_lock=None if key == KEY_OFF else "auto" if key == KEY_SEED else key,
            avoid_copies=avoid_copies and copy_index_ready(model_name),
            threshold=None if not is_gan or density == 0.5 else density_threshold(
                cached_model(model_name).config.threshold, density))
        with st.status("Composing...", expanded=False) as status:
            from musicgen.generate import generate

            model = cached_model(model_name)
            takes = [replace(t, bpm=float(tempo)) for t in generate(model, seed, params)]
            status.update(label="Playing the takes through the synth...")
            shown = show_takes(takes, len(seed.tracks), program, shared_until=seed.padded_to_bar().length)
            status.update(label="Checking the takes against the training music...")
            copies = copy_checks(model_name, takes, seed.padded_to_bar().length)
            status.update(label=f"{len(takes)} takes ready", state="complete")
        st.session_state["takes"] = shown
        st.session_state["takes_copies"] = copies
        pending = not copy_index_future(model_name).done()
        st.session_state["copies_pending"] = (model_name, seed.padded_to_bar().length) if pending else None
        st.session_state["takes_locked"] = []
        st.session_state["takes_meta"] = {"name": f"{file_stem(seed_name.rsplit('.', 1)[0])}-{model_name}",
                                          "model": model_name, "settings": asdict(params), "program": program}
        remember_takes(model_name, params, seed_name, seed, program)
    except MusicgenError as exc:
        st.error(str(exc), icon="⚠️")
    except Exception:  # an unforeseen failure: a clear message here, the details in the server log
        logging.getLogger(__name__).exception("generation failed")
        st.error("Something went wrong while composing. Try other settings or another seed; "
                 "if it happens again, the server log has the details.", icon="⚠️")

takes = st.session_state.get("takes", [])
if takes:
    refresh_copy_checks(takes)
    st.subheader("Takes")
    st.caption("Grey: your seed. Blue: what the model wrote. ⭐ Keep puts a take on the Takes page.")
    base = st.session_state.get("takes_meta", {}).get("name", "take")
    for row in range(0, len(takes), 2):
        for column, index in zip(st.columns(2), range(row, min(row + 2, len(takes))), strict=False):
            shown = takes[index]
            with column, st.container(border=True):
                st.image(shown.png)  # drawn once, when the take was made
                st.audio(shown.sound, format=MIME_TYPES[PLAYER_FORMAT])
                show_copy_check(st.session_state.get("takes_copies", [None] * len(takes))[index])
                a, b, c, d = st.columns(4)
                a.download_button("MIDI", shown.midi, f"{base}-{index + 1}.mid", "audio/midi",
                                  key=f"mid-{index}", icon=":material/download:", on_click="ignore")
                b.download_button("WAV", partial(wav_file, shown.score, shown.program), f"{base}-{index + 1}.wav",
                                  "audio/wav", key=f"wav-{index}", icon=":material/download:", on_click="ignore")
                c.button("Keep", key=f"keep-{index}", icon="⭐", help="Put this take on the Takes page.",
                         on_click=save_take, args=(index,))
                d.button("Use as seed", key=f"seed-{index}", help="Keep extending from this take.",
                         on_click=keep_take, args=(index,))
                rate_take(index)

    made_by = st.session_state.get("takes_meta", {}).get("model", model_name)
    family_of = next((m.card.get("family", "rnn") for m in models if m.name == made_by), "rnn")
    request = rewrite_controls([t[0] for t in takes], "rewrite", can_harmonize(family_of),
                               f"{made_by} cannot rewrite around what you keep. Choose another model and "
                               "generate again.")
    if request is not None:
        rewrite(*request)
