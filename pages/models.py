"""Models: what each model is, how it was trained, and how it fares (numbers and listeners)."""

from __future__ import annotations

import streamlit as st

from musicgen.checkpoint import card_markdown
from musicgen.errors import MusicgenError
from musicgen.listening import model_results, result_rows
from musicgen.listening.report import ACCURACY_MEANING
from musicgen.model_info import benchmark, evaluation_files, summary_row, training_history
from musicgen.models.registry import list_models
from musicgen.sampling import choose_device, describe_device
from musicgen.ui.common import ensure_navigation

ensure_navigation(__file__)

st.title("Models")
st.caption(f"Models run on: **{describe_device(choose_device())}**. "
           "A GPU (CUDA) is used when there is one; every model also runs on a laptop CPU.")

models = list_models()
if not models:
    st.info("There is no model yet: train one on the Train page.")
    st.stop()

st.dataframe([summary_row(m) for m in models], hide_index=True, width="stretch")

names = [m.name for m in models]
name = st.selectbox("Model", names, key="models-pick")
entry = models[names.index(name)]
card = entry.card

st.subheader(entry.name)
if card.get("description"):
    st.markdown(card["description"])
a, b, c, d = st.columns(4)
a.metric("Kind", str(card.get("family", "?")).upper())
b.metric("Parameters", f"{card['parameters']:,}" if isinstance(card.get("parameters"), int) else "?")
before = card.get("validation_loss_before")
c.metric("Validation loss", f"{card['validation_loss']:.3f}" if "validation_loss" in card else "?",
         delta=(f"{card['validation_loss'] - before:+.3f} from {card.get('fine_tuned_from')}"
                if isinstance(before, float) and "validation_loss" in card else None), delta_color="inverse",
         help="Nats per token on music held out from training: lower is better. A fine-tuned model shows how "
              "far it moved from the model it started from, on the same music.")
d.metric("Trained on", card.get("trained_on", "?"))

history = training_history(entry)
if history:
    st.markdown("**Training curve**")
    st.line_chart({"training loss": [h.get("train_loss") for h in history],
                   "validation loss": [h.get("val_loss") for h in history]},
                  x_label="validation (every few hundred steps)", y_label="loss (nats per token)", height=240)

bench = benchmark(entry)
if bench:
    st.markdown("**JSB Chorales benchmark** (negative log-likelihood per frame, nats; lower is better)")
    st.dataframe([{k: (round(v, 2) if isinstance(v, float) else v) for k, v in row.items()}
                  for row in sorted(bench, key=lambda r: r.get("test") or 99)], hide_index=True, width="stretch")

report_md, plots = evaluation_files(entry)
if report_md:
    with st.expander("Evaluation: generated music against held-out music", expanded=True):
        st.markdown("\n".join(line for line in report_md.splitlines() if not line.startswith("![")))
        for plot in plots:  # the report's pictures (Markdown links to local files would not show)
            st.image(plot)
else:
    st.caption(f"No evaluation yet: run `python -m musicgen evaluate --model {entry.name}`.")

st.markdown("**With listeners** (the Listen page's “human or machine?” test, and star ratings on Compose)")
try:
    heard = model_results().get(entry.name)
except MusicgenError as exc:
    st.warning(f"The listening results cannot be read: {exc}", icon="🗄️")
else:
    if heard is None:
        st.caption("Nobody has taken the listening test with this model or rated its takes yet.")
    else:
        st.dataframe(result_rows([heard]), hide_index=True, width="stretch")
        st.caption(ACCURACY_MEANING)

with st.expander("Model card"):
    st.markdown(card_markdown(entry.name, card))
