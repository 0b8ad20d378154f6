"""Takes that continue one seed: the seed's audio played once, kept, played ahead, and mixed in."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from audiofixtures import CHORALE, count_renders, needs_fluidsynth

from musicgen import audio, continuations
from musicgen.audio import RenderOptions, encode, render, render_many
from musicgen.continuations import render_continuations
from musicgen.generate import generate
from musicgen.sampling import SampleParams
from musicgen.score import Score


def _continued(seed: Score, extra: list[list[tuple[int, int, int, int]]]) -> list[Score]:
    """The seed, then other notes after it (``(pitch, velocity, start, end)`` from its end)."""
    end = seed.padded_to_bar().length
    return [seed.with_notes([*seed.notes, *Score.from_tuples([(p, v, end + a, end + b) for p, v, a, b in notes]).notes],
                            length=end + 32) for notes in extra]


def _band_energy_db(audio_: np.ndarray, bands: int = 40) -> np.ndarray:
    spectrum = np.abs(np.fft.rfft(audio_[:, 0].astype(np.float64)))
    return 20 * np.log10([spectrum[b].sum() for b in np.array_split(np.arange(len(spectrum)), bands)])


@needs_fluidsynth
def test_continuations_play_the_seed_once_and_sound_as_rendered_whole() -> None:
    takes = _continued(CHORALE, [[(72, 90, 0, 8), (67, 80, 8, 16)], [(74, 90, 0, 4), (71, 80, 4, 24)],
                                 [(76, 70, 0, 32)]])
    shared_until = CHORALE.padded_to_bar().length
    dry = RenderOptions(effects=False)
    for whole, mixed in zip(render_many(takes, dry), render_continuations(takes, shared_until, dry), strict=True):
        assert whole.audio.shape == mixed.audio.shape
        assert np.sqrt(np.mean((whole.audio - mixed.audio) ** 2)) < 1e-4 * np.sqrt(np.mean(whole.audio ** 2))
    for whole, mixed in zip(render_many(takes), render_continuations(takes, shared_until), strict=True):
        assert whole.audio.shape == mixed.audio.shape
        # The reverb's modulation runs at another phase after the seed: the same sound.
        assert np.abs(_band_energy_db(whole.audio)[:30] - _band_energy_db(mixed.audio)[:30]).max() < 0.5


@needs_fluidsynth
def test_a_seeds_part_is_played_once_for_every_request_from_it(monkeypatch: pytest.MonkeyPatch) -> None:
    takes = _continued(CHORALE, [[(72, 90, 0, 8)], [(74, 90, 0, 4)]])
    shared_until = CHORALE.padded_to_bar().length
    continuations.forget_seed_parts()
    first = render_continuations(takes, shared_until)
    played = count_renders(monkeypatch)
    again = render_continuations(takes, shared_until, then=lambda r: encode(r, "wav"))
    assert len(played) == 2  # the takes' own notes; the seed's part was kept
    assert all(p.times.min() >= 0 and p.n_samples < len(first[0].audio) for p in played)
    assert again == [encode(r, "wav") for r in first]  # ``then`` applied to each take, in order
    other = RenderOptions(program=0)  # another instrument: the seed's part is played anew
    render_continuations(takes, shared_until, other)
    assert len(played) == 5


def test_a_seeds_part_asked_for_while_it_is_being_played_is_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    played = []

    def slow(events, *args):  # stands in for FluidSynth: slow enough for the others to ask meanwhile
        played.append(events)
        time.sleep(0.3)
        return np.ones((events.n_samples, 2), dtype=np.float32)

    monkeypatch.setattr(continuations, "_render_fluidsynth", slow)
    continuations.forget_seed_parts()
    events = continuations._seed_part(CHORALE, CHORALE.padded_to_bar().length, RenderOptions())
    with ThreadPoolExecutor(max_workers=3) as pool:
        parts = list(pool.map(lambda _: continuations._head(events, RenderOptions(), Path("font.sf2")), range(3)))
    assert len(played) == 1 and parts[0] is parts[1] is parts[2]
    assert not parts[0].flags.writeable  # shared: read-only


@needs_fluidsynth
@pytest.mark.parametrize("family", ["rnn", "gan"])
def test_a_seed_played_ahead_is_not_played_again_by_the_first_request_from_it(
        family: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    model = request.getfixturevalue(f"debug_{family}")
    takes = [replace(t, bpm=100.0) for t in generate(model, CHORALE, SampleParams(bars=1, n_variations=2))]
    options = audio.player_options(program=0)  # as Compose plays them: its tempo and instrument
    continuations.forget_seed_parts()
    continuations.prepare_continuations(replace(CHORALE, bpm=100.0), options)  # while the musician sets up
    played = count_renders(monkeypatch)
    rendered = render_continuations(takes, CHORALE.padded_to_bar().length, options)
    assert len(played) == 2  # each take's own notes: the seed's part was ready
    assert [r.seconds for r in rendered] == [render(t, options).seconds for t in takes]


def test_continuations_that_do_not_share_their_start_are_rendered_whole() -> None:
    takes = _continued(CHORALE, [[(72, 90, 0, 8)], [(74, 90, 0, 4)]])
    other = CHORALE.transpose(2)
    takes[1] = other.with_notes([*other.notes, *takes[1].notes[len(CHORALE.notes):]], length=takes[1].length)
    together = render_continuations(takes, CHORALE.padded_to_bar().length)
    assert all(np.array_equal(a.audio, b.audio) for a, b in zip(together, render_many(takes), strict=True))


