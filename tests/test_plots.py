"""Piano-roll pictures: what the app shows for every take, read back pixel by pixel."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from musicgen.plots import (
    HEIGHT,
    LOCKED_COLOUR,
    MARGIN,
    NEW_COLOUR,
    SEED_COLOUR,
    WIDTH,
    bar_labels,
    piano_roll_png,
)
from musicgen.score import Score


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])


def take() -> Score:
    """Two bars of seed (C4 and E4, track 0), then two of new music (G4 then C5, track 1), all at full velocity."""
    return Score.from_tuples([(60, 127, 0, 16, 0), (64, 127, 16, 32, 0), (67, 127, 32, 48, 1), (72, 127, 48, 64, 1)])


def centre(score: Score, pitch: int, start: int, end: int, title: bool = True) -> tuple[int, int]:
    """The pixel (row, column) in the middle of a note, by the picture's layout."""
    left, right = MARGIN["left"], WIDTH - MARGIN["right"]
    top, bottom = MARGIN["top"] if title else MARGIN["top_untitled"], HEIGHT - MARGIN["bottom"]
    pitches = [n.pitch for n in score.notes]
    low, high = min(pitches) - 2, max(pitches) + 2
    x = left + (start + end) / 2 * (right - left) / (score.n_bars * score.steps_per_bar)
    y = bottom - (pitch - low) * (bottom - top) / (high - low)
    return round(y), round(x)


def test_seed_new_and_kept_notes_have_their_colours() -> None:
    score = take()
    kept = [n for n in score.notes if n.pitch == 72]
    image = pixels(piano_roll_png(score, new_from_track=1, title="Take 1", locked=kept))
    assert image.shape == (HEIGHT, WIDTH, 3)
    for pitch, start, colour in ((60, 0, SEED_COLOUR), (64, 16, SEED_COLOUR), (67, 32, NEW_COLOUR),
                                 (72, 48, LOCKED_COLOUR)):
        assert np.abs(image[centre(score, pitch, start, start + 16)] - rgb(colour)).max() <= 2, pitch
    # Where no note sounds (C4's row in the last bar) the roll is white.
    assert (image[centre(score, 60, 48, 64)] == 255).all()


def test_quiet_notes_are_paler_than_loud_ones() -> None:
    loud, quiet = (Score.from_tuples([(60, v, 0, 16), (64, v, 0, 16)]) for v in (127, 30))
    at = centre(loud, 60, 0, 16)
    assert pixels(piano_roll_png(quiet))[at].sum() > pixels(piano_roll_png(loud))[at].sum() + 60


def test_notes_that_follow_each_other_are_told_apart_by_a_white_gap() -> None:
    score = Score.from_tuples([(60, 100, 0, 4), (60, 100, 4, 8), (64, 100, 0, 8)])
    image = pixels(piano_roll_png(score))
    row = centre(score, 60, 0, 4, title=False)[0]
    line = image[row, MARGIN["left"] + 2:WIDTH - MARGIN["right"] - 2]
    coloured = (line < 250).any(axis=1)
    runs = np.flatnonzero(np.diff(coloured.astype(int)) != 0)
    assert len(runs) >= 3  # grey, white, grey: two notes, not one long one


def test_labels_are_drawn_and_the_picture_is_the_same_each_time() -> None:
    score = take()
    png = piano_roll_png(score, 1, "Take 1")
    assert png == piano_roll_png(score, 1, "Take 1")
    image = pixels(png)
    under = image[HEIGHT - MARGIN["bottom"] + 6:, :]  # bar numbers and "bars"
    assert (under.sum(axis=2) < 300).sum() > 30  # dark ink, anti-aliased text
    left_of = image[:, : MARGIN["left"] - 4]  # C4, C5
    assert (left_of.sum(axis=2) < 300).sum() > 20
    assert png != piano_roll_png(score, 1, "Take 2")


@pytest.mark.parametrize(("n_bars", "numbered"), [(4, [0, 1, 2, 3]), (20, list(range(0, 20, 2))),
                                                  (40, list(range(0, 40, 4)))])
def test_long_takes_number_fewer_bars(n_bars: int, numbered: list[int]) -> None:
    assert list(bar_labels(n_bars)) == numbered


def test_an_empty_score_still_draws() -> None:
    image = pixels(piano_roll_png(Score(length=32), title="nothing yet"))
    assert image.shape == (HEIGHT, WIDTH, 3)
