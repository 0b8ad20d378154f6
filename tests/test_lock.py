"""Lock and regenerate on a tiny trained RNN: locked bars and tracks come back bit for bit."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from musicgen.constraints import ConstraintError, Plan, assemble
from musicgen.generate import Lock, generate
from musicgen.lock import lock_plan, locked_notes, parse_numbers
from musicgen.midi import load_midi
from musicgen.models.events import FIRST_PITCH_TOKEN, STEP
from musicgen.models.rnn_constraints import sample_tokens
from musicgen.sampling import SampleParams
from musicgen.score import Note, Score, Track

ROOT = Path(__file__).resolve().parent.parent
CHORALE = load_midi(ROOT / "assets" / "examples" / "bach-chorale-bwv66.6-opening.mid")


@pytest.fixture(scope="module")
def take(debug_rnn) -> Score:
    """Three bars of a chorale and a bar the model wrote: five tracks, four bars."""
    seed = replace(CHORALE.crop_bars(0, 3), tracks=CHORALE.tracks)
    return generate(debug_rnn, seed, SampleParams(bars=1, n_variations=1, random_seed=3))[0]


def check_locked(result: Score, take: Score, lock: Lock) -> None:
    """Locked notes unchanged; nothing new in a locked bar or on a locked track."""
    kept = locked_notes(take, lock)
    assert result.tracks == take.tracks and result.length == take.length
    notes = list(result.notes)
    for note in kept:
        assert note in notes, f"locked {note} changed or went missing"
        notes.remove(note)
    bar = take.steps_per_bar
    for note in notes:  # what the model wrote
        assert note.track not in lock.tracks
        assert all(step // bar + 1 not in lock.bars for step in range(note.start, note.end)), note


@settings(max_examples=10)
@given(bars=st.sets(st.integers(1, 4), max_size=3), tracks=st.sets(st.integers(0, 4), max_size=3),
       random_seed=st.integers(0, 2**16))
def test_locked_bars_and_tracks_are_kept_bit_for_bit(debug_rnn, take: Score, bars: set[int], tracks: set[int],
                                                      random_seed: int) -> None:
    lock = Lock(bars=tuple(bars), tracks=tuple(tracks))
    if not bars and not tracks:
        return
    results = generate(debug_rnn, take, SampleParams(n_variations=2, random_seed=random_seed, temperature=1.3),
                       lock=lock)
    assert len(results) == 2
    for result in results:
        check_locked(result, take, lock)


@pytest.mark.parametrize("lock", [Lock(bars=(1, 2)), Lock(bars=(2, 4)), Lock(tracks=(0, 3)),
                                  Lock(bars=(3,), tracks=(1,)), Lock.from_bar(3)],
                         ids=["first-bars", "bars-around", "tracks", "both", "from-bar-3"])
def test_on_a_coarser_model_grid_too(debug_rnn, take: Score, lock: Lock) -> None:
    """As rnn-jsb: the model thinks in quarter notes, the take is in sixteenths."""
    config = replace(debug_rnn.config, steps_per_beat=1, steps_per_bar=1, repeat_onsets=False, key_normalized=True,
                     register=73.6)
    for result in generate(replace(debug_rnn, config=config), take, SampleParams(n_variations=2, temperature=1.5),
                           lock=lock):
        check_locked(result, take, lock)


def test_regenerate_from_bar_k_keeps_the_start_and_rewrites_the_rest(debug_rnn, take: Score) -> None:
    results = generate(debug_rnn, take, SampleParams(n_variations=4, temperature=1.4), lock=Lock.from_bar(3))
    start = 2 * take.steps_per_bar
    before = [n for n in take.notes if n.start < start]
    for result in results:
        assert [n for n in result.notes if n.start < start] == before
        assert any(n.start >= start for n in result.notes)
    rewritten = {tuple(n for n in r.notes if n.start >= start) for r in results}
    assert len(rewritten) > 1
    assert tuple(n for n in take.notes if n.start >= start) not in rewritten


def test_new_notes_go_to_the_unlocked_voices(debug_rnn, take: Score) -> None:
    lock = Lock(tracks=(0, 4))  # keep the soprano and the continuation: rewrite alto, tenor, bass
    _, voices = lock_plan(take, lock)
    assert [track for track, _ in voices] == [1, 2, 3]  # highest first
    for result in generate(debug_rnn, take, SampleParams(n_variations=2), lock=lock):
        check_locked(result, take, lock)
        assert {n.track for n in result.notes} - {0, 4} <= {1, 2, 3}


def test_same_random_seed_same_result(debug_rnn, take: Score) -> None:
    params, lock = SampleParams(n_variations=2, random_seed=9), Lock(bars=(1, 3))
    assert generate(debug_rnn, take, params, lock=lock) == generate(debug_rnn, take, params, lock=lock)


def test_drums_are_always_kept(debug_rnn) -> None:
    score = Score.from_tuples([(72, 80, 0, 8), (67, 80, 8, 16), (36, 100, 0, 1, 1), (38, 100, 20, 21, 1)],
                              tracks=(Track("Flute", 73), Track("Kit", is_drum=True)))
    for result in generate(debug_rnn, score.padded_to_bar(), SampleParams(n_variations=2), lock=Lock(bars=(1,))):
        assert [n for n in result.notes if n.track == 1] == [n for n in score.notes if n.track == 1]


@pytest.mark.parametrize(("lock", "message"), [
    (Lock(), "at least one bar or track"),
    (Lock(bars=(9,)), "no bar 9: this take has bars 1 to 4"),
    (Lock(tracks=(5,)), "no track 5: this take has tracks 0 to 4"),
    (Lock(tracks=(0, 1, 2, 3, 4)), "Everything is locked"),
    (Lock(bars=(1, 2, 3, 4)), "Everything is locked"),
], ids=["nothing", "bar", "track", "all-tracks", "all-bars"])
def test_impossible_locks_say_what_to_change(debug_rnn, take: Score, lock: Lock, message: str) -> None:
    with pytest.raises(ConstraintError, match=message):
        generate(debug_rnn, take, SampleParams(n_variations=1), lock=lock)


def test_a_lock_needs_a_take(debug_rnn) -> None:
    with pytest.raises(ConstraintError, match="give a seed"):
        generate(debug_rnn, None, SampleParams(), lock=Lock(bars=(1,)))


@pytest.mark.parametrize(("text", "numbers"), [("1-4", (1, 2, 3, 4)), ("1-2, 5", (1, 2, 5)), ("0", (0,))])
def test_bar_and_track_lists(text: str, numbers: tuple[int, ...]) -> None:
    assert parse_numbers(text, "bars") == numbers


@pytest.mark.parametrize("text", ["4-1", "one", "1-", ""])
def test_unreadable_lists(text: str) -> None:
    with pytest.raises(ConstraintError):
        parse_numbers(text, "bars")


def test_regenerating_from_bar_one_is_refused() -> None:
    with pytest.raises(ConstraintError, match="bar 2 or later"):
        Lock.from_bar(1)


def forced_steps(tokens: np.ndarray, forced: np.ndarray, lowest: int, n_pitches: int) -> list[set[int]]:
    """The pitches forced in each step of a sampled row."""
    steps: list[set[int]] = [set()]
    for tok, was_forced in zip(tokens, forced, strict=True):
        if tok == STEP:
            steps.append(set())
        elif tok >= FIRST_PITCH_TOKEN and was_forced:
            steps[-1].add(lowest + (int(tok) - FIRST_PITCH_TOKEN) % n_pitches)
    return steps[:-1]


@pytest.mark.parametrize("lock", [Lock(tracks=(0, 3)), Lock(bars=(1, 3), tracks=(2,))], ids=["tracks", "both"])
def test_the_model_plays_every_locked_note_while_it_samples(debug_rnn, take: Score, lock: Lock) -> None:
    """The locked notes are in the model's own token stream (it hears them), step by step."""
    plan, _ = lock_plan(take, lock)
    config = debug_rnn.config
    tokens, forced, where = sample_tokens(debug_rnn.network, config, plan, SampleParams(n_variations=3),
                                          debug_rnn.device)
    expected = [{config.lowest + i - where.shift for i in where.need.sets[t]} for t in range(where.n_steps)]
    assert any(expected[where.first:])
    for row, row_forced in zip(tokens, forced, strict=True):
        assert forced_steps(row, row_forced, config.lowest - where.shift, config.n_pitches) == expected[where.first:]


def test_results_never_alter_a_fixed_note_whatever_the_model_writes() -> None:
    """The last guard: new notes that would cut, merge with or sound over fixed ones are trimmed."""
    take = Score.from_tuples([(60, 80, 0, 8), (64, 80, 4, 12), (67, 80, 16, 20)], length=32)
    free = np.ones(32, dtype=bool)
    free[16:24] = False  # a locked bar
    plan = Plan(frame=take, fixed=take.notes, free=free, ceiling=np.full(32, 128))
    new = [Note(2, 60, 4), Note(0, 64, 8), Note(12, 67, 10), Note(18, 70, 2), Note(26, 72, 4)]
    result = assemble(plan, new, [(0, 60.0)])
    assert set(take.notes) <= set(result.notes)
    added = sorted(set(result.notes) - set(take.notes))
    assert added == [Note(0, 64, 4), Note(12, 67, 4), Note(26, 72, 4)]


def test_cli_generate_with_locks_rewrites_the_take(tmp_path: Path, take: Score) -> None:
    from enginefixtures import train_debug_rnn

    from musicgen.__main__ import main
    from musicgen.midi import score_to_bytes

    train_debug_rnn(tmp_path / "model", steps=20)
    seed = tmp_path / "take.mid"
    seed.write_bytes(score_to_bytes(take))
    out = tmp_path / "out"
    code = main(["generate", "--model", str(tmp_path / "model"), "--seed", str(seed), "--lock-bars", "1-2",
                 "--lock-tracks", "0", "--variations", "2", "--out", str(out)])
    assert code == 0
    files = sorted(out.glob("*.mid"))
    assert [f.name for f in files] == ["take-model-rewrite-1.mid", "take-model-rewrite-2.mid"]
    written = load_midi(seed)
    for f in files:
        check_locked(load_midi(f), written, Lock(bars=(1, 2), tracks=(0,)))
    assert main(["generate", "--model", str(tmp_path / "model"), "--lock-bars", "1"]) == 2
    assert main(["generate", "--model", str(tmp_path / "model"), "--seed", str(seed), "--lock-bars", "9"]) == 2
