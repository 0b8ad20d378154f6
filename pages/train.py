"""Train: a new model, more training for one, or a trained model fine-tuned, on a bundled corpus or the
user's own MIDI files."""

from __future__ import annotations

import secrets

import streamlit as st

from musicgen.corpus import BUILTIN
from musicgen.errors import MusicgenError
from musicgen.jobs import TrainingJob, TrainRequest, claim_model_name, save_corpus_files
from musicgen.midi import MidiLimits
from musicgen.models.registry import FAMILIES, list_models
from musicgen.ui.common import ensure_navigation

ensure_navigation(__file__)

CORPORA = {"jsb": "Bach chorales (JSB, quick to read)", "bach": "Bach chorales (music21, every chorale)",
           "folk": "Irish and European folk tunes", "upload": "My own MIDI files"}
SIZES = {"debug": "Tiny (a sketch in a minute)", "small": "Small", "base": "Base (best, slowest)"}
MAX_UPLOAD_FILES = 500
NEW = ""  # "Start from": a new model
FINE_TUNE_LR = 5e-4  # a quarter of a new model's: fine-tuning moves a trained model, it does not start it over


st.title("Train")
st.caption("Teach a model the style of a corpus. It then appears on Compose. Training runs here, on "
           "this computer: a small model on a laptop CPU takes a few minutes.")

job: TrainingJob | None = st.session_state.get("train_job")
running = job is not None and job.snapshot().running

with st.form("train"):
    left, right = st.columns(2)
    corpus_choice = left.selectbox("Music to learn from", list(CORPORA), format_func=CORPORA.get, key="corpus")
    uploads = left.file_uploader(
        f"Your MIDI files (or zips of them), when you pick “My own MIDI files”: "
        f"up to {MAX_UPLOAD_FILES} files, {MidiLimits.from_env().max_bytes / 2**20:g} MB each",
        type=["mid", "midi", "zip"], accept_multiple_files=True, key="corpus-files",
        max_upload_size=MidiLimits.from_env().upload_mb)
    bases = {m.name: m.card.get("family", "") for m in list_models()}
    base = right.selectbox(
        "Start from", [NEW, *bases], key="train-base",
        format_func=lambda b: f"{b} ({bases[b].upper()}): fine-tune it" if b else "A new model",
        help="Fine-tuning teaches a trained model your music: it keeps what it learned and its kind and size, "
             "and the model saved is never worse on your music than the one you started from.")
    family = right.selectbox("Kind of model", list(FAMILIES), key="train-family",
                             format_func=lambda f: f.upper(), help="A fine-tuned model stays the kind it is.")
    size = right.selectbox("Size", list(SIZES), index=1, format_func=SIZES.get, key="size",
                           help="A fine-tuned model stays the size it is.")
    steps = right.slider("Training steps", 20, 5000, 300, 20, key="steps",
                         help="More steps learn more and take longer; you can stop at any time.")
    default_name = st.session_state.setdefault("default-model-name", f"my-model-{secrets.token_hex(2)}")
    name = right.text_input("Name of the new model", default_name, key="train-name",
                            help="Letters, digits, '-' and '_'. Models are shared with everyone on this server: "
                                 "a name someone has used is refused. Your own name again goes on where it stopped.")
    fresh = right.toggle("Start over (don't resume a stopped run of this name)", value=False, key="fresh")
    start = st.form_submit_button("Start training", type="primary", disabled=running)

if start:
    try:
        owned = st.session_state.setdefault("trained_names", set())
        claim_model_name(name.strip(), owned)
        if corpus_choice == "upload":
            if not uploads:
                raise MusicgenError("Add your MIDI files first (or pick a bundled corpus).")
            if len(uploads) > MAX_UPLOAD_FILES:
                raise MusicgenError(f"That is {len(uploads)} files: use at most {MAX_UPLOAD_FILES}.")
            source = str(save_corpus_files(name.strip() or "my-model", [(u.name, u.getvalue()) for u in uploads]))
        else:
            source = corpus_choice
        if base:
            family = bases[base] or family
            what = f"{base} fine-tuned on {CORPORA[corpus_choice].lower()}"
            how = f"Train page: {base} fine-tuned on {corpus_choice}, {steps} steps"
        else:
            what = f"{family.upper()} trained on {CORPORA[corpus_choice].lower()}"
            how = f"Train page: {family} on {corpus_choice}, size {size}, {steps} steps"
        request = TrainRequest(family=family, corpus=source, size=size, steps=steps, name=name.strip(),
                               eval_every=max(10, steps // 20), batch_size=16, fresh=fresh,
                               lr=FINE_TUNE_LR if base else TrainRequest.lr, init_from=base or None,
                               description=what, command=how)
        st.session_state["train_job"] = job = TrainingJob(request).start()
        owned.add(request.model_name)
    except MusicgenError as exc:
        st.error(str(exc), icon="⚠️")


@st.fragment(run_every=1.0)
def show_job() -> None:
    """Progress of this session's training run, refreshed every second."""
    job: TrainingJob | None = st.session_state.get("train_job")
    if job is None:
        st.info(f"Pick the music and press **Start training**. Bundled corpora: {'; '.join(BUILTIN.values())}")
        return
    snap = job.snapshot()
    st.subheader(f"Training {snap.model_name}")
    if snap.phase == "reading":
        done, total = snap.corpus_done, snap.corpus_total
        st.progress(done / total if total else 0.0,
                    text=f"Reading the music: {done} of {total} files" if total else "Reading the music...")
    else:
        loss = f", loss {snap.train_loss:.3f}" if snap.train_loss is not None else ""
        st.progress(min(1.0, snap.step / snap.total),
                    text=f"Step {snap.step} of {snap.total}{loss} · {snap.elapsed_s:.0f} s")
    if snap.history:
        st.line_chart({"training loss": [h["train_loss"] for h in snap.history],
                       "validation loss": [h["val_loss"] for h in snap.history]},
                      x_label="validation", y_label="loss (nats per token)", height=260)
    if snap.running:
        st.button("Cancel", key="cancel-training", on_click=job.cancel, icon=":material/stop:",
                  help="Stops after saving; start again with the same name to go on.")
    elif snap.phase == "failed":
        st.error(snap.error or "Training failed.", icon="⚠️")
    elif snap.phase == "cancelled":
        saved = "; the best model so far is already on Compose" if snap.history else ""
        st.warning(f"Stopped at step {snap.step}. Start again with the same name to go on from there{saved}.",
                   icon="⏸️")
    else:
        st.success(f"Done: **{snap.model_name}** is ready on Compose.", icon="✅")


show_job()
