"""Make the bundled seed files in ``assets/examples/``.

Run ``python -m musicgen.examples`` (or ``make examples``); the files are committed,
so the app does not need music21 at start-up to offer them.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from .corpus import load_corpus_piece
from .midi import score_to_bytes
from .score import Score, Track

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "assets" / "examples"

# "Ode to Joy" (Beethoven, Symphony No. 9, public domain), written by hand:
# (pitch, start in eighth notes, length in eighth notes).
_ODE = [
    (64, 0, 2), (64, 2, 2), (65, 4, 2), (67, 6, 2), (67, 8, 2), (65, 10, 2), (64, 12, 2), (62, 14, 2),
    (60, 16, 2), (60, 18, 2), (62, 20, 2), (64, 22, 2), (64, 24, 3), (62, 27, 1), (62, 28, 4),
    (64, 32, 2), (64, 34, 2), (65, 36, 2), (67, 38, 2), (67, 40, 2), (65, 42, 2), (64, 44, 2), (62, 46, 2),
    (60, 48, 2), (60, 50, 2), (62, 52, 2), (64, 54, 2), (62, 56, 3), (60, 59, 1), (60, 60, 4),
]


def ode_to_joy() -> Score:
    """The first eight bars of "Ode to Joy" in C major, as a flute melody."""
    return Score.from_tuples([(p, 90, 2 * s, 2 * (s + d)) for p, s, d in _ODE],
                             tracks=(Track("Melody", program=73),), bpm=100)


def _named(score: Score, name: str) -> Score:
    return replace(score, tracks=tuple(replace(t, name=name) for t in score.tracks))


def build_examples() -> dict[str, Score]:
    """The example seeds by file name."""
    chorale = load_corpus_piece("bwv66.6", program=19).crop_bars(0, 5)  # church organ
    reel = load_corpus_piece("ryansMammoth/7thRegimentReel.abc", program=40).crop_bars(0, 9)  # violin
    air = load_corpus_piece("oneills1850/0001-0050.abc", number=3, program=73)  # flute
    return {
        "bach-chorale-bwv66.6-opening.mid": chorale,
        "reel-7th-regiment.mid": _named(reel, "Fiddle"),
        "irish-air-little-heathy-hill.mid": _named(air, "Flute"),
        "ode-to-joy-melody.mid": ode_to_joy(),
    }


TITLES = {
    "bach-chorale-bwv66.6-opening.mid": "Bach chorale, BWV 66.6 (opening, four voices)",
    "reel-7th-regiment.mid": "Reel: The 7th Regiment (fiddle, Ryan's Mammoth)",
    "irish-air-little-heathy-hill.mid": "Irish air: The Little Heathy Hill (flute, O'Neill's 1850)",
    "ode-to-joy-melody.mid": "Ode to Joy (melody)",
}


def list_examples() -> dict[str, Path]:
    """The bundled seed files by readable title."""
    return {title: EXAMPLES_DIR / name for name, title in TITLES.items() if (EXAMPLES_DIR / name).is_file()}


def main() -> int:
    """Write every example file."""
    EXAMPLES_DIR.mkdir(parents=True, exist_ok=True)
    for name, score in build_examples().items():
        (EXAMPLES_DIR / name).write_bytes(score_to_bytes(score))
        print(f"wrote {EXAMPLES_DIR.name}/{name}: {len(score.notes)} notes, {score.n_bars} bars")
    return 0


if __name__ == "__main__":
    sys.exit(main())
