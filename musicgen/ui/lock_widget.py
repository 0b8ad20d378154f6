"""Lock toggles for a take: which bars and which tracks to keep while a model rewrites the rest.

Not a page: Harmonize and Compose use it.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from musicgen.lock import Lock
from musicgen.score import Score


def lock_controls(take: Score, key: str, tracks: Sequence[int] | None = None,
                  track_label: str = "Keep tracks") -> Lock:
    """Toggles per bar and per track; the lock they make (nothing kept while none is on).

    ``tracks``: the tracks offered (default: every pitched one), shown by name.
    """
    offered = list(tracks) if tracks is not None else [i for i, t in enumerate(take.tracks) if not t.is_drum]
    bars = st.pills("Keep bars", list(range(1, take.n_bars + 1)), selection_mode="multi", key=f"{key}-bars",
                    help="The bars to keep as they are, every voice of them.")
    kept = st.pills(track_label, offered, selection_mode="multi", key=f"{key}-tracks",
                    format_func=lambda i: take.tracks[i].name or f"Track {i}",
                    help="The parts to keep as they are, all the way through.")
    return Lock(bars=tuple(bars or ()), tracks=tuple(kept or ()))


def rewrite_controls(takes: list[Score], key: str, can_lock: bool, why_not: str = "") -> tuple[int, Lock] | None:
    """Pick a take, the bars and tracks to keep; ``(take index, lock)`` when "Rewrite the rest" is pressed.

    ``can_lock`` False (a model family that cannot write around kept notes) shows the
    controls disabled, with ``why_not``.
    """
    st.subheader("Keep what you like, rewrite the rest")
    st.caption("Pick a take and the bars or tracks to keep: the model rewrites everything else around them, "
               "as many times as you asked for variations. What you keep stays note for note.")
    if not can_lock:
        st.info(why_not, icon="ℹ️")
        return None
    which = st.selectbox("Take", range(len(takes)), key=f"{key}-which", format_func=lambda i: f"Take {i + 1}")
    lock = lock_controls(takes[which], f"{key}-{which}")
    if st.button("Rewrite the rest", key=f"{key}-go", disabled=not (lock.bars or lock.tracks),
                 help="Turn on at least one bar or track to keep."):
        return which, lock
    return None

