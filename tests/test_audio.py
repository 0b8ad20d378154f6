"""Audio: musical facts about what FluidSynth and the fallback synth play."""

from __future__ import annotations

import io
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile
from audiofixtures import CHORALE, REEL, needs_fluidsynth
from sf2bytes import chorus_test_soundfont

from musicgen import audio, synths
from musicgen.audio import (
    Rendered,
    RenderOptions,
    SoundFontNotFound,
    encode,
    find_soundfont,
    render,
    render_many,
)
from musicgen.score import Score, Track
from musicgen.synths import _LoadedSoundFont, additive

SR = 44100


def fallback(score: Score, options: RenderOptions | None = None) -> Rendered:
    options = options or RenderOptions()
    return audio._fallback(audio._events(score, options), options, "test")


RENDERERS = [pytest.param(render, id="fluidsynth", marks=needs_fluidsynth), pytest.param(fallback, id="fallback")]


def a4(seconds_before: float = 0.0) -> Score:
    """One A4 (440 Hz) lasting one second at 120 BPM, after a rest."""
    start = round(seconds_before * 8)
    return Score.from_tuples([(69, 100, start, start + 8)], tracks=(Track("Flute", 73),), bpm=120)


def peak_frequency(mono: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    return float(np.fft.rfftfreq(len(mono), 1 / SR)[spectrum.argmax()])


@pytest.mark.parametrize("play", RENDERERS)
def test_a4_has_its_spectral_peak_at_440_hz(play) -> None:
    rendered = play(a4())
    assert rendered.audio.shape[1] == 2 and rendered.audio.dtype == np.float32
    freq = peak_frequency(rendered.audio[:SR, 0].astype(np.float64))
    assert abs(freq - 440.0) <= 2.0


@pytest.mark.parametrize("play", RENDERERS)
def test_a3_sounds_as_harmonics_of_220_hz(play) -> None:
    # A low flute's second harmonic can outweigh its fundamental: check the series.
    score = Score.from_tuples([(57, 100, 0, 8)], tracks=(Track("Flute", 73),), bpm=120)
    mono = play(score).audio[:SR, 0].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    freqs = np.fft.rfftfreq(len(mono), 1 / SR)
    peak = freqs[spectrum.argmax()]
    assert abs(peak / 220 - round(peak / 220)) * 220 <= 3
    fundamental = spectrum[(freqs > 216) & (freqs < 224)].max()
    assert fundamental > 0.1 * spectrum.max()
    assert spectrum[(freqs > 100) & (freqs < 210)].max() < 0.05 * spectrum.max()


@pytest.mark.parametrize("play", RENDERERS)
def test_silence_before_the_first_note_and_after_the_release(play) -> None:
    # Rest 2 s, a one-second note, then 4 s of rest in the score.
    score = Score.from_tuples([(69, 100, 16, 24)], tracks=(Track("Flute", 73),), bpm=120, length=56)
    mono = play(score).audio[:, 0]
    assert np.abs(mono[: 2 * SR - 64]).max() < 1e-6  # below -120 dBFS
    note_rms = np.sqrt(np.mean(mono[2 * SR: 3 * SR] ** 2))
    late_rms = np.sqrt(np.mean(mono[6 * SR: 7 * SR] ** 2))
    assert late_rms < 0.01 * note_rms


@pytest.mark.parametrize("play", RENDERERS)
def test_duration_is_score_length_plus_tail(play) -> None:
    rendered = play(CHORALE, RenderOptions(tail_seconds=1.5))
    assert rendered.seconds == pytest.approx(CHORALE.duration_seconds + 1.5, abs=1 / SR)


@pytest.mark.parametrize("play", RENDERERS)
def test_normalized_without_clipping_and_no_clicks_at_the_ends(play) -> None:
    rendered = play(CHORALE)
    peak = np.abs(rendered.audio).max()
    assert peak == pytest.approx(0.89, abs=1e-3)
    assert rendered.audio[0].tolist() == [0.0, 0.0]
    assert np.abs(rendered.audio[-1]).max() < 1e-6
    ramp = np.abs(rendered.audio[:64]).max(axis=1)
    assert ramp[1] < 0.01


@pytest.mark.parametrize("play", RENDERERS)
def test_tempo_override_changes_the_length(play) -> None:
    slow = play(REEL, RenderOptions(bpm=60, tail_seconds=0))
    assert slow.seconds == pytest.approx(REEL.length / REEL.steps_per_beat, abs=1 / SR)


@needs_fluidsynth
def test_the_same_score_renders_identically_whatever_came_before() -> None:
    first = render(CHORALE).audio
    render(REEL)
    assert np.array_equal(render(CHORALE).audio, first)


@needs_fluidsynth
def test_eight_threads_at_once_match_the_single_threaded_renders() -> None:
    expected = {id(s): render(s).audio for s in (CHORALE, REEL)}
    jobs = [CHORALE, REEL] * 4
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(render, jobs))
    for score, result in zip(jobs, results, strict=True):
        assert np.array_equal(result.audio, expected[id(score)])


@needs_fluidsynth
def test_render_many_keeps_order_and_matches_render() -> None:
    results = render_many([REEL, CHORALE, REEL])
    assert [r.seconds for r in results] == [render(s).seconds for s in (REEL, CHORALE, REEL)]
    assert np.array_equal(results[1].audio, render(CHORALE, parallel=False).audio)
    assert np.array_equal(results[0].audio, results[2].audio)


@needs_fluidsynth
def test_tracks_played_in_parallel_mix_to_the_same_music() -> None:
    together = render(CHORALE, parallel=False).audio
    split = render(CHORALE, parallel=True).audio
    # The synth is linear but for details (voice ramps, reverb denormals): the
    # difference is more than 60 dB below the music, far below hearing.
    difference = np.sqrt(np.mean((together - split) ** 2))
    assert difference < 1e-3 * np.sqrt(np.mean(together**2))
    assert np.abs(together - split).max() < 0.01


@needs_fluidsynth
def test_a_render_stops_playing_once_it_is_silent_and_loses_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    options = RenderOptions(tail_seconds=8.0)  # far longer than the flute's release and the reverb
    early = render(a4(), options).audio
    monkeypatch.setattr(synths, "QUIET", 0.0)  # play every sample to the end
    whole = render(a4(), options).audio
    assert np.abs(whole[-4 * SR:]).max() > 0  # the reverb's last whispers run on to the end
    assert not early[-4 * SR:].any()  # the early render stopped well before it
    assert np.abs(early - whole).max() <= 1e-6 * np.abs(whole).max()  # what it left out: below -120 dB


@needs_fluidsynth
def test_a_libfluidsynth_without_the_voice_calls_keeps_the_chorus_and_plays_to_the_end(
        monkeypatch: pytest.MonkeyPatch) -> None:
    options = RenderOptions(tail_seconds=8.0)
    monkeypatch.setattr(synths, "QUIET", 0.0)
    whole = render(a4(), options).audio
    monkeypatch.setattr(synths, "QUIET", 1e-6)
    lib = synths._lib()
    monkeypatch.setattr(synths, "_CHORUS", {})
    for name in ("voicelist", "voice_gen", "active_voices"):  # as pyfluidsynth gives a missing call: None
        monkeypatch.setattr(lib, name, None)
    assert np.array_equal(render(a4(), options).audio, whole)
    with synths.POOL.borrow(find_soundfont()) as loaded:
        assert loaded.sends_to_chorus(0, 73)


@needs_fluidsynth
def test_the_chorus_runs_exactly_where_a_preset_sends_to_it(tmp_path: Path) -> None:
    font = chorus_test_soundfont(tmp_path / "chorus.sf2")
    loaded = _LoadedSoundFont(font)
    assert loaded.sends_to_chorus(0, 0) and not loaded.sends_to_chorus(0, 1)

    def sine(program: int, velocity: int) -> np.ndarray:
        score = Score.from_tuples([(69, velocity, 0, 8)], tracks=(Track("Sine", program),), bpm=120)
        return render(score, soundfont=font).audio

    # Program 0 sends its loud notes to the chorus (it sounds), not its soft ones (a silent
    # chorus adds nothing): program 1, never sent, sounds like it where it does not send.
    assert np.sqrt(np.mean((sine(0, 100) - sine(1, 100)) ** 2)) > 0.01
    assert np.array_equal(sine(0, 40), sine(1, 40))


@needs_fluidsynth
def test_leaving_out_a_chorus_nothing_sends_to_changes_no_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    without = [render(s, parallel=False).audio for s in (CHORALE, REEL)]  # FluidR3: no chorus sends
    monkeypatch.setattr(_LoadedSoundFont, "sends_to_chorus", lambda self, bank, program: True)
    for score, audio_ in zip((CHORALE, REEL), without, strict=True):
        assert np.array_equal(render(score, parallel=False).audio, audio_)


def test_split_by_channel_balances_and_keeps_every_event() -> None:
    events = audio._events(CHORALE, RenderOptions())
    groups = audio.split_by_channel(events, 2)
    assert len(groups) == 2
    assert sum(len(g.times) for g in groups) == len(events.times)
    assert set().union(*(g.programs for g in groups)) == set(events.programs)
    sizes = sorted(len(g.times) for g in groups)
    assert sizes[0] >= 0.6 * sizes[1]
    assert len(audio.split_by_channel(audio._events(a4(), RenderOptions()), 4)) == 1


@needs_fluidsynth
def test_instrument_choice_changes_the_sound() -> None:
    flute = render(a4(), RenderOptions(program=73)).audio
    piano = render(a4(), RenderOptions(program=0)).audio
    assert flute.shape == piano.shape
    assert not np.allclose(flute, piano, atol=0.05)


@needs_fluidsynth
def test_drums_play_on_channel_ten() -> None:
    kick = Score.from_tuples([(36, 120, 0, 2)], tracks=(Track("Kit", 0, True),), bpm=120)
    rendered = render(kick)
    assert np.abs(rendered.audio).max() > 0.5
    # A kick drum's energy sits far below a piano C2's 65 Hz fundamental region's harmonics.
    assert peak_frequency(rendered.audio[:SR // 2, 0].astype(np.float64)) < 150


def test_missing_soundfont_falls_back_with_a_notice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audio, "SOUNDFONT_PATHS", ("/nonexistent/a.sf2",))
    monkeypatch.delenv("MUSICGEN_SOUNDFONT", raising=False)
    rendered = render(a4())
    assert rendered.renderer == "built-in synth"
    assert "fluid-soundfont-gm" in rendered.notice
    assert abs(peak_frequency(rendered.audio[:SR, 0].astype(np.float64)) - 440) <= 2
    assert audio.describe_renderer()[0] == "built-in synth"


def test_missing_fluidsynth_library_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    from musicgen import synths

    def unavailable() -> None:
        raise synths.SynthUnavailable("FluidSynth is not installed. Install it with apt-get.")

    monkeypatch.setattr(synths, "_lib", unavailable)
    monkeypatch.setattr(synths, "POOL", synths._SoundFontPool(1))
    monkeypatch.setattr(audio, "POOL", synths.POOL)
    rendered = render(a4())
    assert rendered.renderer == "built-in synth" and "not installed" in rendered.notice


def test_a_named_soundfont_that_does_not_exist_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SoundFontNotFound, match="does not exist"):
        render(a4(), soundfont="/nonexistent/piano.sf2")
    monkeypatch.setenv("MUSICGEN_SOUNDFONT", "/nonexistent/env.sf2")
    with pytest.raises(SoundFontNotFound, match="MUSICGEN_SOUNDFONT"):
        find_soundfont()


def test_a_missing_soundfont_in_the_environment_plays_the_built_in_synth_and_says_why(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUSICGEN_SOUNDFONT", "/nonexistent/env.sf2")
    rendered = render(a4())
    assert rendered.renderer == "built-in synth"
    assert "MUSICGEN_SOUNDFONT /nonexistent/env.sf2 does not exist" in rendered.notice
    assert abs(peak_frequency(rendered.audio[:SR, 0].astype(np.float64)) - 440) <= 2
    assert audio.describe_renderer() == ("built-in synth", rendered.notice.removeprefix(
        "Playing with the simple built-in synth. "))


def test_soundfont_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit, env, system = (tmp_path / n for n in ("a.sf2", "b.sf2", "c.sf2"))
    for p in (explicit, env, system):
        p.write_bytes(b"x")
    monkeypatch.setattr(audio, "SOUNDFONT_PATHS", (str(system),))
    monkeypatch.setenv("MUSICGEN_SOUNDFONT", str(env))
    assert find_soundfont(explicit) == explicit
    assert find_soundfont() == env
    monkeypatch.delenv("MUSICGEN_SOUNDFONT")
    assert find_soundfont() == system


def test_fallback_is_deterministic_and_plays_drums() -> None:
    score = Score.from_tuples([(36, 100, 0, 2, 1), (60, 100, 0, 4, 0)], tracks=(Track(), Track(is_drum=True)))
    events = audio._events(score, RenderOptions())
    assert np.array_equal(additive(events, SR), additive(events, SR))
    assert np.abs(additive(events, SR)).max() > 0


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg"])
def test_encoded_audio_reads_back(fmt: str) -> None:
    rendered = fallback(a4())
    data = encode(rendered, fmt)
    decoded, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    assert rate == SR and decoded.shape == rendered.audio.shape
    tolerance = 1e-4 if fmt != "ogg" else 0.05
    assert np.abs(decoded - rendered.audio).max() < tolerance
    if fmt == "ogg":
        assert abs(peak_frequency(decoded[:SR, 0].astype(np.float64)) - 440) <= 2


def test_wav_header() -> None:
    with wave.open(io.BytesIO(encode(fallback(a4())))) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, SR)


@needs_fluidsynth
def test_players_get_32_khz_wav_and_downloads_44_1_khz_of_the_same_music() -> None:
    player = encode(render(a4(), audio.player_options()), audio.PLAYER_FORMAT)
    download = audio.wav_file(a4())
    for data, rate in ((player, audio.PLAYER_RATE), (download, SR)):
        samples, read_rate = soundfile.read(io.BytesIO(data))
        assert data[:4] == b"RIFF" and read_rate == rate
        assert len(samples) == round(2.0 * rate)  # the one-second note and its second of tail
        spectrum = np.abs(np.fft.rfft(samples[:rate, 0] * np.hanning(rate)))
        assert abs(np.fft.rfftfreq(rate, 1 / rate)[spectrum.argmax()] - 440) <= 2


@needs_fluidsynth
@pytest.mark.parametrize("score", [CHORALE, REEL], ids=["organ", "fiddle"])
def test_what_a_32_khz_player_leaves_out_is_inaudible(score: Score) -> None:
    # Above 16 kHz, FluidR3's organ and fiddle hold less than 1/10,000 of the energy (-40 dB).
    left = render(score).audio[:, 0].astype(np.float64)
    power = np.abs(np.fft.rfft(left)) ** 2
    above = power[np.fft.rfftfreq(len(left), 1 / SR) > audio.PLAYER_RATE / 2].sum()
    assert 10 * np.log10(above / power.sum()) < -40


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="Unknown audio format"):
        encode(fallback(a4()), "mp3")
