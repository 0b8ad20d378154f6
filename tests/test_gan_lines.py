"""A GAN that writes voices' lines: reading voices off a roll, decoding them, and the model writing them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from enginefixtures import train_debug_gan
from test_harmonize import TUNE, check_harmonization
from test_lock import check_locked

from musicgen.generate import Lock, generate, harmonize, load_model
from musicgen.midi import load_midi
from musicgen.model_info import draws_pitches
from musicgen.models.gan_leading import VoiceLeading
from musicgen.models.gan_lines import REST, decode_lines, line_classes, line_loss, line_targets
from musicgen.models.gan_rolls import score_to_rolls
from musicgen.models.registry import ModelEntry
from musicgen.sampling import SampleParams
from musicgen.score import Score

ROOT = Path(__file__).resolve().parent.parent
CHORALE = load_midi(ROOT / "assets" / "examples" / "bach-chorale-bwv66.6-opening.mid")
LOWEST, P = 48, 36


def bar_of(notes: list[tuple[int, int, int]], steps: int = 8) -> torch.Tensor:
    """A ``(1, 2, steps, P)`` bar from ``(pitch, start, end)`` notes."""
    score = Score.from_tuples([(p, 80, s, e) for p, s, e in notes], length=steps)
    return torch.from_numpy(score_to_rolls(score, LOWEST, P)).float()[None]


def as_logits(classes: torch.Tensor, onsets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Lines that are certain of ``classes`` ``(B, V, S)`` and ``onsets``."""
    return 20.0 * torch.nn.functional.one_hot(classes, P + 1).float(), 20.0 * (2 * onsets - 1)


# A C major chord (C4 E4 G4 over C3) for 4 steps, then the alto rests while the others move to
# F major (F4 A4 over F3) for 2 steps, then the soprano strikes A4 again and holds it for 2.
CHORD_BAR = [(67, 0, 4), (64, 0, 4), (60, 0, 4), (48, 0, 4), (69, 4, 6), (65, 4, 6), (53, 4, 8), (69, 6, 8),
             (65, 6, 8)]


def test_voices_are_read_from_the_top_down_and_the_lowest_note_is_always_the_bass() -> None:
    classes, onsets = line_targets(bar_of(CHORD_BAR), 4)
    pitches = torch.where(classes == REST, -1, classes - 1 + LOWEST)[0]  # (V, S)
    assert pitches[:, 0].tolist() == [67, 64, 60, 48]
    assert pitches[:, 4].tolist() == [69, 65, -1, 53]  # three notes: the third voice rests, the bass stays the bass
    assert onsets[0, :, 0].tolist() == [1, 1, 1, 1] and onsets[0, :, 1].tolist() == [0, 0, 0, 0]
    assert onsets[0, 0, 6] == 1 and onsets[0, 3, 6] == 0  # the soprano strikes again, the bass holds


def test_one_part_is_the_top_line() -> None:
    classes, _ = line_targets(bar_of(CHORD_BAR), 1)
    assert (classes[0, 0] - 1 + LOWEST).tolist() == [67] * 4 + [69] * 4


def test_certain_lines_decode_to_the_bar_they_were_read_from() -> None:
    bar = bar_of(CHORD_BAR)
    made = decode_lines(*as_logits(*line_targets(bar, 4)), torch.tensor([8]))
    assert torch.equal(made.float(), bar)


def test_a_voice_holds_its_pitch_until_it_marks_an_onset() -> None:
    classes, onsets = line_targets(bar_of([(60, 0, 8)]), 1)
    pitch, onset = as_logits(classes, onsets)
    pitch[0, 0, 3, 62 - LOWEST + 1] = 25.0  # at step 3 D4 is likelier than C4, but no onset is marked
    made = decode_lines(pitch, onset, torch.tensor([8]))[0]
    assert made[0, :, 60 - LOWEST].all() and made[1].sum() == 1  # one C4, held through
    onset[0, 0, 3] = 20.0
    made = decode_lines(pitch, onset, torch.tensor([8]))[0]
    assert made[0, 3:, 62 - LOWEST].all() and made[1].sum() == 2  # C4, then D4 held to the end


def test_a_note_held_over_the_bar_line_is_not_struck_again() -> None:
    before, after = bar_of([(60, 0, 8)]), bar_of([(60, 0, 4)])
    after[:, 1] = 0  # the C goes on from the bar before: no onset
    lines = as_logits(*line_targets(after, 1))
    assert not decode_lines(*lines, torch.tensor([8]), prev=before)[0, 1].any()
    assert decode_lines(*lines, torch.tensor([8]))[0, 1, 0, 60 - LOWEST]  # after silence it starts there


def test_the_key_lock_the_voice_limit_and_the_threshold() -> None:
    bar = bar_of(CHORD_BAR)
    pitch, onset = as_logits(*line_targets(bar, 4))
    pitch = pitch + 0.1 * torch.randn(pitch.shape, generator=torch.Generator().manual_seed(0))
    length = torch.tensor([8])
    no_e = (torch.arange(P) + LOWEST) % 12 != 4
    made = decode_lines(pitch, onset, length, allowed=no_e)
    assert made[0, 0, :4, 64 - LOWEST].sum() == 0 and made[0, 0, :4].sum() == 4 * 4  # the alto sings another pitch
    two = decode_lines(pitch, onset, length, max_voices=2)[0, 0]
    assert two.sum(dim=1).max() == 2 and two[:, 48 - LOWEST].any() and two[:4, 67 - LOWEST].all()  # top and bass
    assert decode_lines(pitch, onset, length)[0, 0, 4:].sum(dim=1).tolist() == [3, 3, 3, 3]
    pitch[0, 2, 4:, 57 - LOWEST + 1] = 1.0  # the resting voice's likeliest pitch is A3 ...
    pitch[0, 2, 4:, REST] = pitch[0, 2, 4:, 1:].logsumexp(dim=-1)  # ... and it sings as likely as it rests
    onset[0, 2, 4] = 20.0  # a new note there (without it, the voice would hold its C4 on)
    dense = decode_lines(pitch, onset, length, threshold=0.4)[0, 0]
    assert dense[4:].sum(dim=1).tolist() == [4, 4, 4, 4] and dense[4:, 57 - LOWEST].all()
    assert decode_lines(pitch, onset, length, threshold=0.6)[0, 0, 4:].sum(dim=1).tolist() == [3, 3, 3, 3]


def test_nothing_sounds_past_the_bars_length() -> None:
    lines = as_logits(*line_targets(bar_of(CHORD_BAR), 4))
    assert not decode_lines(*lines, torch.tensor([6]))[0, :, 6:].any()


# ----------------------------------------------------------------- voice leading
def undecided(voices: int, strikes: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Lines that surely sing but have no preference among pitches, striking at ``strikes``."""
    pitch = torch.zeros(1, voices, 8, P + 1)
    pitch[..., REST] = -20.0
    onset = torch.full((1, voices, 8), -20.0)
    onset[..., strikes] = 20.0
    return pitch, onset


def scrambled(leading: VoiceLeading) -> VoiceLeading:
    """``leading`` with random weights everywhere (its output layers start at zero)."""
    torch.manual_seed(0)
    with torch.no_grad():
        for weight in leading.parameters():
            weight.normal_(0.0, 0.5)
    return leading


def test_voice_leading_weighs_a_drawn_bar_as_it_weighs_the_same_bar_in_training() -> None:
    """Drawing reads the bar one step at a time; training reads the real bar in one pass: the
    log-weights each voice's pitch gets must be the same."""
    leading = scrambled(VoiceLeading(3, P))
    torch.manual_seed(1)
    pitch, onset = torch.randn(2, 3, 8, P + 1), torch.randn(2, 3, 8)
    prev = bar_of([(72, 0, 8), (64, 0, 4), (48, 0, 8)]).expand(2, -1, -1, -1)
    length = torch.tensor([8, 8])
    classes, strikes = line_classes(pitch, onset, length, prev, temperature=1.0, leading=leading,
                                    generator=torch.Generator().manual_seed(0))
    assert strikes.any() and (~strikes & (classes != REST)).any()  # some notes struck, some held
    first, first_struck = line_targets(prev[:, :, -1:], 3)
    before = torch.cat([first, classes[..., :-1]], dim=-1)
    struck = torch.cat([first_struck.bool(), strikes[..., :-1]], dim=-1)
    whole = [part.detach().numpy() for part in leading.bias(pitch, onset, struck, before, prev)]
    drawing = leading.drawing(pitch, onset, prev)
    for s in range(8):
        sing, strike = drawing.step(s, before[..., s].numpy(), struck[..., s].float().numpy())
        assert np.allclose(drawing.pitch_weights(before[..., s].numpy()), whole[0][:, :, s], atol=1e-4)
        assert np.allclose(sing, whole[1][..., s], atol=1e-4)
        assert np.allclose(strike, whole[2][..., s], atol=1e-4)


def test_untrained_voice_leading_changes_nothing() -> None:
    torch.manual_seed(2)
    pitch, onset = torch.randn(3, 2, 8, P + 1), torch.randn(3, 2, 8)
    bar = decode_lines(pitch, onset, torch.tensor([8, 8, 6])).float()
    leading = VoiceLeading(2, P)
    assert torch.equal(decode_lines(pitch, onset, torch.tensor([8, 8, 6]), leading=leading), bar.bool())
    mask = torch.ones(3, 8)
    assert torch.allclose(line_loss(pitch, onset, bar, mask, bar, leading), line_loss(pitch, onset, bar, mask))


def test_voice_leading_draws_each_new_note_from_the_top_p_nucleus_at_the_temperature() -> None:
    """G4 and A4 hold 90% of the probability: top-p 0.8 draws nothing else; without top-p the
    other pitches come up about as often as their 10%; at temperature 0 it is always the likelier."""
    pitch, onset = undecided(1, list(range(8)))
    pitch = pitch.expand(64, -1, -1, -1).clone()
    pitch[..., 1:] = torch.log(torch.tensor(0.1 / (P - 2)))
    pitch[..., 67 - LOWEST + 1] = torch.log(torch.tensor(0.46))
    pitch[..., 69 - LOWEST + 1] = torch.log(torch.tensor(0.44))
    onset = onset.expand(64, -1, -1)
    leading = VoiceLeading(1, P)

    def drawn(**how: float) -> torch.Tensor:
        made = decode_lines(pitch, onset, torch.full((64,), 8), leading=leading,
                            generator=torch.Generator().manual_seed(0), **how)
        return made[:, 0].float().argmax(dim=-1) + LOWEST  # (64, 8)

    assert set(drawn(temperature=1.0, top_p=0.8).flatten().tolist()) == {67, 69}
    other = (~torch.isin(drawn(temperature=1.0), torch.tensor([67, 69]))).float().mean().item()
    assert 0.05 < other < 0.15
    assert set(drawn(temperature=0.0).flatten().tolist()) == {67}


def test_voice_leading_learns_to_walk_down_a_scale_the_generator_cannot_place() -> None:
    """A generator with no preference among pitches; the bars to learn fall by whole steps from
    wherever the bar before ended. Trained on them, the voice leading draws that walk."""
    torch.manual_seed(3)
    leading = VoiceLeading(1, P)
    optimizer = torch.optim.Adam(leading.parameters(), lr=0.03)
    pitch, onset = undecided(1, list(range(8)))
    mask = torch.ones(1, 8)
    for step in range(150):
        top = 64 + step % 13
        before = bar_of([(top, 0, 8)])
        bar = bar_of([(top - 2 * (k + 1), k, k + 1) for k in range(8)])
        optimizer.zero_grad()
        line_loss(pitch, onset, bar, mask, before, leading).backward()
        optimizer.step()
    made = decode_lines(pitch, onset, torch.tensor([8]), prev=bar_of([(70, 0, 8)]), leading=leading)[0]
    assert (made[0].float().argmax(dim=-1) + LOWEST).tolist() == [68, 66, 64, 62, 60, 58, 56, 54]
    assert made[1].sum(dim=-1).tolist() == [1] * 8  # a new note at every step
    flat = decode_lines(pitch, onset, torch.tensor([8]), prev=bar_of([(70, 0, 8)]))[0]
    assert (flat[0].float().argmax(dim=-1) + LOWEST).tolist() == [LOWEST] * 8  # without it: the first of equals


# ----------------------------------------------------------------- a model that writes lines
@pytest.fixture(scope="module")
def lines_gan(tmp_path_factory: pytest.TempPathFactory):
    """A debug GAN writing 3 voices with voice leading, trained for a few seconds on the tiny corpus."""
    return train_debug_gan(tmp_path_factory.mktemp("models") / "gan-lines", parts=3, voices=3, voice_leading=True)


@pytest.mark.parametrize(("card", "draws"), [({"family": "rnn"}, True),
                                             ({"family": "gan", "config": {"parts": 0}}, False),
                                             ({"family": "gan", "config": {"parts": 4}}, True)],
                         ids=["rnn", "gan-merged-roll", "gan-lines"])
def test_temperature_applies_to_models_that_draw_pitches(card: dict, draws: bool) -> None:
    assert draws_pitches(ModelEntry("m", Path("m"), shipped=False, card=card)) is draws


def test_it_writes_at_most_its_voices_and_the_same_music_after_loading(lines_gan, tmp_path: Path) -> None:
    from musicgen.checkpoint import save_model

    params = SampleParams(bars=2, n_variations=3, noise=1.0, random_seed=2)
    takes = generate(lines_gan, CHORALE, params)
    for take in takes:
        roll = take.piano_roll(tracks=[len(CHORALE.tracks)])
        assert roll.any() and roll.sum(axis=1).max() <= 3
        assert take.notes[: len(CHORALE.notes)] == CHORALE.notes
    family = lines_gan.family
    save_model(tmp_path / "copy", family.name, family.config_to_dict(lines_gan.config),
               lines_gan.network.state_dict(), {})
    again = load_model(tmp_path / "copy", device="cpu")
    assert again.config.parts == 3 and generate(again, CHORALE, params) == takes


def test_a_lower_threshold_makes_rests_rarer(lines_gan) -> None:
    def sounding(threshold: float) -> int:
        takes = generate(lines_gan, CHORALE, SampleParams(bars=2, n_variations=4, noise=1.0, threshold=threshold))
        return sum(int(t.piano_roll(tracks=[len(CHORALE.tracks)]).sum()) for t in takes)

    assert sounding(0.1) > sounding(0.9)


def test_it_harmonizes_and_locks(lines_gan) -> None:
    for take in harmonize(lines_gan, TUNE, SampleParams(n_variations=2, random_seed=4)):
        check_harmonization(take, TUNE)
    seed = replace(CHORALE.crop_bars(0, 3), tracks=CHORALE.tracks)
    take = generate(lines_gan, seed, SampleParams(bars=1, n_variations=1, random_seed=3))[0]
    lock = Lock(bars=(1, 3))
    for result in generate(lines_gan, take, SampleParams(n_variations=2, noise=1.0), lock=lock):
        check_locked(result, take, lock)


def test_at_a_temperature_each_new_note_draws_its_pitch_and_holds_it() -> None:
    classes, onsets = line_targets(bar_of([(60, 0, 8)]), 1)
    pitch, onset = as_logits(classes, onsets)
    pitch[0, 0, :, 62 - LOWEST + 1] = 20.0  # D4 as likely as C4 all through the bar
    pitch, onset = pitch.expand(64, -1, -1, -1), onset.expand(64, -1, -1)
    length = torch.full((64,), 8)

    def drawn(seed: int) -> torch.Tensor:
        return decode_lines(pitch, onset, length, temperature=1.0, generator=torch.Generator().manual_seed(seed))

    made = drawn(0)
    assert torch.equal(made, drawn(0)) and not torch.equal(made, drawn(1))
    assert (made[:, 1].sum(dim=(1, 2)) == 1).all()  # one note a take, held through the bar
    firsts = made[:, 0, 0].float().argmax(dim=-1) + LOWEST
    assert set(firsts.tolist()) == {60, 62} and (made[:, 0].sum(dim=(1, 2)) == 8).all()
    assert (decode_lines(pitch, onset, length, temperature=0.0)[:, 0, :, 60 - LOWEST]).all()  # 0: the likeliest


# ----------------------------------------------------------------- a model that learned its music in C
@pytest.fixture(scope="module")
def gan_in_c(tmp_path_factory: pytest.TempPathFactory):
    """A debug GAN writing one line that moves seeds to C major / C minor and back."""
    return train_debug_gan(tmp_path_factory.mktemp("models") / "gan-in-c", parts=1, voices=1, key_normalized=True)


def new_part(take: Score, seed: Score) -> list[tuple[int, int, int]]:
    return [(n.pitch, n.start, n.duration) for n in take.notes if n.track >= len(seed.tracks)]


@pytest.mark.parametrize("semitones", [2, -3, 5])
def test_a_key_normalized_gan_writes_the_same_music_in_the_seeds_key(gan_in_c, semitones: int) -> None:
    params = SampleParams(bars=2, n_variations=2, noise=1.0, random_seed=7)
    in_c = generate(gan_in_c, CHORALE, params)
    moved_seed = CHORALE.transpose(semitones)
    moved = generate(gan_in_c, moved_seed, params)
    assert any(new_part(t, CHORALE) for t in in_c)
    for a, b in zip(in_c, moved, strict=True):
        assert new_part(b, moved_seed) == [(p + semitones, s, d) for p, s, d in new_part(a, CHORALE)]


def test_a_key_normalized_gan_keeps_the_key_lock_and_the_kept_bars(gan_in_c) -> None:
    seed = CHORALE.transpose(2)
    scale = seed.estimate_key().scale
    takes = generate(gan_in_c, seed, SampleParams(bars=2, n_variations=3, noise=1.5, key_lock="auto"))
    assert all(n.pitch % 12 in scale for t in takes for n in t.notes if n.track >= len(seed.tracks))
    take = takes[0]
    lock = Lock(bars=(1,))
    for result in generate(gan_in_c, take, SampleParams(n_variations=2, noise=1.0), lock=lock):
        check_locked(result, take, lock)
