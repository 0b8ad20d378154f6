"""Listen: a blind test. Two excerpts, one by a person and one by a model: which is human?"""

from __future__ import annotations

import logging
import secrets
import uuid
from concurrent.futures import Future
from dataclasses import asdict
from pathlib import Path

import streamlit as st

from musicgen.audio import MIME_TYPES
from musicgen.errors import MusicgenError
from musicgen.listening.db import Answer, ListeningDBError
from musicgen.listening.pool import ExcerptPool, PoolWarmup
from musicgen.listening.quiz import CONFIDENCE, ROUNDS, SLOTS, Quiz, plan_rounds
from musicgen.listening.report import ACCURACY_MEANING, result_rows
from musicgen.modelcorpus import CorpusUnknown, corpus_spec
from musicgen.models.registry import list_models
from musicgen.ui.common import cached_model, ensure_navigation
from musicgen.ui.rating_widget import listener_id, listening_db

ensure_navigation(__file__)

POOL_SIZE = 3 * ROUNDS  # pairs made per model in the background, so that quizzes differ


@st.cache_resource(show_spinner=False)
def pool_warmup() -> PoolWarmup:
    """The excerpt pools of every model, made ahead and shared by every listener."""
    return PoolWarmup(ROUNDS)


def warm_pool(model_name: str, folder: str) -> Future[ExcerptPool]:
    """The model's pool, started in the background as soon as the model is picked (before
    anyone presses Start); a model retrained under the same name gets a new one."""
    weights = Path(folder) / "model.safetensors"
    stamp = weights.stat().st_mtime if weights.is_file() else 0.0
    return pool_warmup().start((model_name, folder, stamp), cached_model(model_name))


def start_quiz(model_name: str, job: Future[ExcerptPool]) -> None:
    """Plan a quiz of ten rounds over the model's pool (waiting for it only if it is still being made)."""
    with st.spinner(f"Preparing excerpts for {model_name}: the first time, this takes a little while..."):
        pool = job.result()
    pool.top_up_async(max(0, POOL_SIZE - len(pool)))
    st.session_state["listen"] = {"quiz": Quiz(uuid.uuid4().hex, plan_rounds(pool.pair_ids(), secrets.randbits(32))),
                                  "model": model_name, "pool": pool, "revealed": False}


def pick(slot: int) -> None:
    """The listener's answer for the current round (a button callback): record it, then reveal."""
    state = st.session_state["listen"]
    quiz: Quiz = state["quiz"]
    if quiz.finished or state["revealed"]:  # a second click on a stale page
        return
    rnd = quiz.current
    sure = st.session_state.get(f"listen-sure-{quiz.quiz_id}-{rnd.number}")
    confidence = next((k for k, v in CONFIDENCE.items() if v == sure), None)
    quiz.answer(slot, confidence)
    state["revealed"] = True
    pair = state["pool"].pair(rnd.pair_id)
    db = listening_db(warn=False)
    if db is None:
        return
    try:
        db.add_answer(Answer(listener_id(), quiz.quiz_id, rnd.number, state["model"], pair.piece, rnd.human_slot,
                             slot, pair.setup.seed_bars, pair.setup.excerpt_bars, asdict(pair.params), confidence))
    except ListeningDBError as exc:
        state["db_error"] = str(exc)


def next_round() -> None:
    st.session_state["listen"]["revealed"] = False


st.title("Listen: human or machine?")
st.caption(f"Each round plays two excerpts of the same length on the same instrument. One is real music a model "
           f"never heard; the other is that model's continuation of the same opening bars. Pick the one a person "
           f"wrote. {ROUNDS} rounds, then your score.")
db = listening_db()

models = []
for entry in list_models():
    try:
        corpus_spec(entry.card, model_name=entry.name)
        models.append(entry)
    except CorpusUnknown:
        pass
if not models:
    st.info("No model here knows which pieces it never heard: train one on a built-in corpus (bach, folk or jsb).")
    st.stop()

labels = {m.name: f"{m.name} — {m.card.get('description', '')}" for m in models}
folders = {m.name: str(m.path.resolve()) for m in models}
state = st.session_state.get("listen")
choose, start = st.columns([3, 1], vertical_alignment="bottom")
model_name = choose.selectbox("Model", list(labels), format_func=labels.get, key="listen-model")
in_progress = state is not None and not state["quiz"].finished
label = "Start over" if in_progress else f"Start a round of {ROUNDS}" if state is None else f"Another round of {ROUNDS}"
try:
    job = warm_pool(model_name, folders[model_name])
except MusicgenError as exc:  # e.g. a model whose files cannot be read
    st.error(str(exc), icon="⚠️")
    st.stop()
if state is None:
    st.caption("Excerpts ready." if job.done() else "Preparing the excerpts in the background...")
if start.button(label, key="listen-start", type="secondary" if in_progress else "primary"):
    try:
        start_quiz(model_name, job)
    except MusicgenError as exc:
        st.error(str(exc), icon="⚠️")
    except Exception:  # an unforeseen failure: a clear message here, the details in the server log
        logging.getLogger(__name__).exception("preparing the listening test failed")
        st.error("Something went wrong while preparing the excerpts; the server log has the details.", icon="⚠️")
    state = st.session_state.get("listen")

if state is not None:
    quiz, pool = state["quiz"], state["pool"]
    answered = state["revealed"]
    rnd = quiz.rounds[len(quiz.picks) - 1] if answered else quiz.current
    pair = pool.pair(rnd.pair_id)
    st.subheader(f"Round {rnd.number} of {len(quiz.rounds)}")
    st.caption(f"Model: {state['model']}. Excerpts of {pair.setup.excerpt_bars} bars.")
    sounds = [pair.human_audio, pair.machine_audio] if rnd.human_slot == 0 else [pair.machine_audio, pair.human_audio]
    for column, slot, sound in zip(st.columns(2), SLOTS, sounds, strict=True):
        with column, st.container(border=True):
            st.markdown(f"**Excerpt {slot}**")
            st.audio(sound, format=MIME_TYPES[pair.audio_format])
    if not answered:
        st.radio("How sure are you? (optional)", list(CONFIDENCE.values()), index=None, horizontal=True,
                 key=f"listen-sure-{quiz.quiz_id}-{rnd.number}")
        a, b = st.columns(2)
        a.button("A was written by a person", key="listen-pick-a", on_click=pick, args=(0,), width="stretch")
        b.button("B was written by a person", key="listen-pick-b", on_click=pick, args=(1,), width="stretch")
    else:
        human = SLOTS[rnd.human_slot]
        if quiz.picks[-1] == rnd.human_slot:
            st.success(f"Right: {human} was written by a person ({pair.piece}).", icon="✅")
        else:
            st.info(f"Not this time: {human} was written by a person ({pair.piece}); the other is "
                    f"{state['model']}'s.", icon="🤖")
        if state.pop("db_error", None):
            st.warning("This answer could not be saved; the quiz goes on.", icon="💾")
        if not quiz.finished:
            st.button("Next round", key="listen-next", on_click=next_round, type="primary")
        else:
            score = quiz.score()
            st.subheader(f"Your score: {score.correct} of {score.total}")
            st.markdown(score.verdict())

st.divider()
st.subheader("How the models fare so far")
if db is not None:
    try:
        results = db.results()
        if results:
            st.dataframe(result_rows(results), hide_index=True)
            st.caption(ACCURACY_MEANING.capitalize() + ". The interval is a 95% Wilson interval; ratings are "
                       "the stars given to takes on Compose.")
        else:
            st.caption("No answers yet: yours will be the first.")
        left, right = st.columns(2)
        left.download_button("Download all answers (CSV)", db.export_csv("answers"), "listening-answers.csv",
                             "text/csv", key="listen-csv-answers", on_click="ignore")
        right.download_button("Download all ratings (CSV)", db.export_csv("ratings"), "take-ratings.csv",
                              "text/csv", key="listen-csv-ratings", on_click="ignore")
    except ListeningDBError as exc:
        st.warning(str(exc), icon="💾")
