"""Lock toggles for a take: which bars and which tracks to keep while a model rewrites the rest.

Not a page: Harmonize uses it, and any page showing takes can (Compose, Takes).
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
