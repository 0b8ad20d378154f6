"""The RNN as a probability model: a proper distribution over frames, and the benchmark path."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from musicgen.benchmark import JSB_PATH, frame_rolls, frames_to_score, load_jsb, unigram_nll
from musicgen.models.events import FIRST_PITCH_TOKEN, STEP, EventCodec, allowed_tokens, structure
from musicgen.models.rnn import RnnConfig, RnnModel

LOW, P = 60, 4  # four pitches: C4, C#4, D4, D#4


def frame_probability(model: RnnModel, codec: EventCodec, context: list[int], frame: set[int],
                      previous: set[int]) -> float:
    """P(frame | context) = the product of its tokens' masked probabilities."""
    tokens = list(context)
    prob = 1.0
    for pitch in [*sorted(frame, reverse=True), None]:
        nxt = STEP if pitch is None else (codec.hold(pitch) if pitch in previous else codec.onset(pitch))
        seq = np.array([*tokens, nxt])
        floor, prev = structure(seq, P)
        allowed = torch.from_numpy(allowed_tokens(floor[-1:], prev[-1:], repeat_onsets=False))
        logits, _ = model(torch.tensor([tokens]), torch.zeros(1, len(tokens), dtype=torch.long))
        probs = torch.softmax(logits[0, -1].masked_fill(~allowed[0], float("-inf")), dim=-1)
        prob *= float(probs[nxt])
        tokens.append(nxt)
    return prob


@pytest.mark.parametrize("shared_pitch", [False, True], ids=["own-tokens", "shared-pitch"])
@pytest.mark.parametrize("previous", [set(), {60, 62}, {61, 62, 63}], ids=["after-silence", "after-C-D", "after-3"])
def test_frame_probabilities_sum_to_one_over_all_16_frames(previous: set[int], shared_pitch: bool) -> None:
    torch.manual_seed(0)
    config = RnnConfig(lowest=LOW, n_pitches=P, steps_per_beat=1, steps_per_bar=1, embed=8, hidden=16, layers=1,
                       dropout=0.0, repeat_onsets=False, shared_pitch=shared_pitch)
    model = RnnModel(config).eval()
    codec = config.codec
    context = [1]  # BOS, then the previous frame
    context += [codec.onset(p) for p in sorted(previous, reverse=True)] + [STEP]
    frames = [set(c) for n in range(P + 1) for c in itertools.combinations(range(LOW, LOW + P), n)]
    assert len(frames) == 16
    with torch.no_grad():
        total = sum(frame_probability(model, codec, context, f, previous) for f in frames)
    assert total == pytest.approx(1.0, abs=1e-5)


def test_jsb_frames_become_scores_exactly() -> None:
    raw = json.loads(Path(JSB_PATH).read_text())
    for frames, score in zip(raw["valid"], load_jsb()["valid"], strict=True):
        expected = np.array([[(21 + i) in set(f) for i in range(88)] for f in frames])
        assert (frame_rolls([score]) == expected).all()
        assert score.length == len(frames)


def test_held_frames_are_one_note() -> None:
    score = frames_to_score([[60, 64], [60, 65], [], [60]])
    assert score.to_tuples() == [(64, 80, 0, 1, 0), (60, 80, 0, 2, 0), (65, 80, 1, 2, 0), (60, 80, 3, 4, 0)]


def test_the_unigram_baseline_matches_the_published_figure() -> None:
    data = load_jsb()
    assert round(unigram_nll(data["train"], data["test"]), 2) == 11.06


def test_every_jsb_chorale_has_exactly_one_spelling_under_the_masks() -> None:
    codec = EventCodec(21, 88)
    for score in load_jsb()["test"]:
        tokens, _ = codec.encode(score)
        floor, previous = structure(tokens, 88)
        allowed = allowed_tokens(floor, previous, repeat_onsets=False)
        assert allowed[np.arange(1, len(tokens)), tokens[1:]].all()
        # Onset and hold of one pitch are never both allowed: one spelling per frame.
        both = allowed[:, FIRST_PITCH_TOKEN:FIRST_PITCH_TOKEN + 88] & allowed[:, FIRST_PITCH_TOKEN + 88:]
        assert not both.any()
