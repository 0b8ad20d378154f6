"""musicgen studio: the Streamlit entry point (navigation and the shared sidebar)."""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="musicgen studio", page_icon="🎼", layout="wide")

pages = [
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
]
page = st.navigation(pages)

with st.sidebar:
    st.markdown("### 🎼 musicgen studio")
    st.caption("Compose with neural networks: continue and vary your own MIDI seeds.")

page.run()
