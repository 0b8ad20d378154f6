"""musicgen studio: the Streamlit entry point (navigation and the shared sidebar)."""

from __future__ import annotations

import streamlit as st

from musicgen.audio import describe_renderer
from musicgen.sampling import choose_device, describe_device
from musicgen.ui.common import DEEP_LINK, NAVIGATION_READY

st.set_page_config(page_title="musicgen studio", page_icon="🎼", layout="wide")

pages = [
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("pages/compose.py", title="Compose", icon="🎹"),
    st.Page("pages/harmonize.py", title="Harmonize", icon="🎶"),
    st.Page("pages/takes.py", title="Takes", icon="⭐"),
    st.Page("pages/listen.py", title="Listen", icon="🎧"),
    st.Page("pages/train.py", title="Train", icon="🏋️"),
    st.Page("pages/models.py", title="Models", icon="📊"),
]
page = st.navigation(pages)
st.session_state[NAVIGATION_READY] = True
deep_link = st.session_state.pop(DEEP_LINK, None)  # see musicgen/ui/common.py: ensure_navigation
if deep_link:
    target = next((p for p in pages if p.url_path == deep_link), None)
    if target is not None and target is not page:
        st.switch_page(target)


@st.cache_resource
def renderer_status() -> tuple[str, str | None]:
    """Which synth plays the music; looked up once per server."""
    return describe_renderer()


@st.cache_resource
def device_status() -> str:
    """Where the models run; looked up once per server."""
    return describe_device(choose_device())


with st.sidebar:
    st.markdown("### 🎼 musicgen studio")
    st.caption("Compose with neural networks: continue and vary your own MIDI seeds.")
    renderer, notice = renderer_status()
    st.caption(f"🔊 Sound: {renderer}")
    st.caption(f"🧠 Models run on: {device_status()}")
    if notice:
        st.warning(notice, icon="🔈")

page.run()
