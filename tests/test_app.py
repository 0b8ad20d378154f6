"""The Streamlit app, driven headless with AppTest."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from smfbytes import VALID
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
HOME = str(ROOT / "pages" / "home.py")


def test_app_starts_on_home_without_exceptions() -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "musicgen studio"


def test_home_describes_the_first_example() -> None:
    at = AppTest.from_file(HOME, default_timeout=60).run()
    assert not at.exception and not at.error
    cells = at.table[0].value.to_string()
    assert "Soprano" in cells and "4/4" in cells


def test_every_example_loads() -> None:
    at = AppTest.from_file(HOME, default_timeout=60).run()
    for option in at.selectbox[0].options:
        at.selectbox[0].select(option).run()
        assert not at.exception and not at.error, option


def _upload(content: bytes, name: str = "seed.mid") -> AppTest:
    at = AppTest.from_file(HOME, default_timeout=60).run()
    at.radio[0].set_value("My own MIDI file").run()
    at.file_uploader[0].set_value((name, content, "audio/midi")).run()
    return at


def test_uploaded_file_is_described() -> None:
    at = _upload(VALID)
    assert not at.exception and not at.error
    assert "Melody" in at.table[0].value.to_string()


def test_bad_upload_shows_an_error_not_a_traceback() -> None:
    for content, message in [(b"\x89PNG\r\n\x1a\n" + bytes(20), "PNG"), (VALID[:40], "cut off"), (b"", "empty")]:
        at = _upload(content)
        assert not at.exception
        assert message in at.error[0].value


def test_seed_is_playable() -> None:
    at = AppTest.from_file(HOME, default_timeout=60).run()
    players = at.get("audio")
    assert len(players) == 1
    assert not at.exception and not at.error


def test_a_midi_without_notes_or_over_the_size_limit_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from smfbytes import END, meter, smf, tempo

    at = _upload(smf(tempo(100) + meter(4, 2) + END), "silence.mid")
    assert not at.exception and "silence.mid" in at.error[0].value and "no notes" in at.error[0].value
    monkeypatch.setenv("MUSICGEN_MIDI_MAX_MB", str(len(VALID) / 2 / 2**20))  # half this file's size
    at = _upload(VALID, "big.mid")
    assert not at.exception and "big.mid" in at.error[0].value and "limit" in at.error[0].value


def test_a_missing_soundfont_plays_the_built_in_synth_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUSICGEN_SOUNDFONT", "/nonexistent/studio.sf2")
    at = AppTest.from_file(HOME, default_timeout=60).run()
    assert not at.exception and not at.error
    assert len(at.get("audio")) == 1
    assert any("/nonexistent/studio.sf2 does not exist" in i.value for i in at.info)


def test_streamlit_config_keeps_errors_private_and_limits_uploads_as_the_engine_does() -> None:
    import tomllib

    from musicgen.midi import MidiLimits

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == MidiLimits().upload_mb
    assert config["server"]["enableXsrfProtection"] is True
    assert config["client"]["showErrorDetails"] == "none"
    assert config["browser"]["gatherUsageStats"] is False


COMPOSE = str(ROOT / "pages" / "compose.py")


def _compose(model: str) -> AppTest:
    at = AppTest.from_file(COMPOSE, default_timeout=120).run()
    assert not at.exception, at.exception
    at.selectbox(key="model").set_value(model).run()
    at.slider(key="bars").set_value(1)
    at.slider(key="variations").set_value(2)
    return at


def test_compose_generates_takes_with_rolls_audio_and_downloads(user_model: str) -> None:
    at = _compose(user_model)
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert len(at.session_state["takes"]) == 2
    assert len(at.get("image")) == 3  # the seed and two takes
    assert len(at.get("audio")) == 3
    assert len(at.get("download_button")) == 4


def test_compose_plays_the_seed_while_the_musician_sets_up(user_model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from audiofixtures import count_renders

    from musicgen import continuations
    from musicgen.ui.common import seed_audio_ahead

    continuations.forget_seed_parts()
    seed_audio_ahead.clear()
    at = _compose(user_model)
    deadline = time.monotonic() + 60  # the page only hands the work to a background thread
    while not continuations._HEADS and time.monotonic() < deadline:
        time.sleep(0.05)
    ahead = list(continuations._HEADS.values())
    assert len(ahead) == 1  # the example seed's part, at its tempo, with its own instruments
    ahead[0].result(timeout=60)
    played = count_renders(monkeypatch)
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert len(played) == 2  # the two takes' own notes: the seed's part was ready


def test_compose_generates_from_an_uploaded_file(user_model: str) -> None:
    at = _compose(user_model)
    at.radio(key="compose-source").set_value("My own MIDI file").run()
    at.file_uploader(key="compose-upload").set_value(("scale.mid", VALID, "audio/midi")).run()
    at.button[0].click().run()
    assert not at.exception and not at.error
    takes = [t[0] for t in at.session_state["takes"]]
    seed = [(n.pitch, n.start, n.duration) for n in takes[0].notes if n.track == 0]
    assert [p for p, _, _ in seed] == [60, 62, 64, 65, 67, 69, 71, 72]  # the upload is the seed, unchanged
    assert all(t.length == takes[0].length > 8 * 4 for t in takes)  # two bars of scale, then one new bar


def test_compose_enables_the_controls_a_gan_uses() -> None:
    at = AppTest.from_file(COMPOSE, default_timeout=120).run()
    at.radio(key="family").set_value("gan").run()
    at.selectbox(key="model").set_value("gan-folk").run()
    assert not at.exception
    assert not at.slider(key="noise").disabled and not at.slider(key="density").disabled
    assert at.slider(key="polyphony").disabled  # its voices are its own
    # the shipped GANs write voices' lines, drawing each note's pitch: temperature and top-p apply
    assert not at.slider(key="temperature").disabled and not at.slider(key="top_p").disabled


def test_compose_use_as_seed_extends_the_piece(user_model: str) -> None:
    at = _compose(user_model)
    at.button[0].click().run()
    first = at.session_state["takes"][0][0]
    at.button(key="seed-0").click().run()
    assert not at.exception
    name, data = at.session_state["next_seed"]
    assert name == "Take 1"
    from musicgen.midi import load_midi

    assert load_midi(data).length == first.length


def test_compose_rewrites_a_take_around_the_bars_and_tracks_kept(user_model: str) -> None:
    at = _compose(user_model)
    at.slider(key="bars").set_value(2)
    at.button[0].click().run()
    first = at.session_state["takes"][1][0]
    at.selectbox(key="rewrite-which").set_value(1).run()
    at.button_group(key="rewrite-1-bars").set_value([1]).run()
    at.button(key="rewrite-go").click().run()
    assert not at.exception and not at.error
    rewrites = [take for take, *_ in at.session_state["takes"]]
    assert len(rewrites) == 2  # as many as the variations asked for
    bar = first.steps_per_bar
    kept = [n for n in first.notes if n.start < bar]
    assert at.session_state["takes_locked"] == kept  # drawn in the locked colour
    for take in rewrites:
        assert [n for n in take.notes if n.start < bar] == kept  # bit for bit
        assert take.length == first.length
    assert any([n for n in t.notes if n.start >= bar] != [n for n in first.notes if n.start >= bar]
               for t in rewrites)
    assert len(at.get("image")) == 3 and len(at.get("audio")) == 3


def test_compose_rewrites_a_gan_take_keeping_the_locked_bar() -> None:
    at = AppTest.from_file(COMPOSE, default_timeout=120).run()
    at.radio(key="family").set_value("gan").run()
    at.selectbox(key="model").set_value("gan-folk").run()
    at.slider(key="bars").set_value(2)
    at.slider(key="variations").set_value(2)
    at.button[0].click().run()
    assert not at.exception and not at.error
    first = at.session_state["takes"][0][0]
    at.button_group(key="rewrite-0-bars").set_value([1]).run()
    at.button(key="rewrite-go").click().run()
    assert not at.exception and not at.error
    rewrites = [take for take, *_ in at.session_state["takes"]]
    assert len(rewrites) == 2
    bar = first.steps_per_bar
    kept = [n for n in first.notes if n.start < bar]
    for take in rewrites:
        assert [n for n in take.notes if n.start < bar] == kept  # bit for bit
        assert take.length == first.length


# ----------------------------------------------------------------- Listen
LISTEN = str(ROOT / "pages" / "listen.py")


@pytest.fixture(scope="module")
def listening_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A debug RNN trained on JSB chorales, where the app looks for the user's models."""
    from listeningfixtures import train_debug_jsb_rnn

    train_debug_jsb_rnn(tmp_path_factory.getbasetemp() / "data" / "models" / "aaa-listen-jsb")
    return "aaa-listen-jsb"


def _listen(model: str) -> AppTest:
    at = AppTest.from_file(LISTEN, default_timeout=240).run()
    assert not at.exception, at.exception
    at.selectbox(key="listen-model").set_value(model).run()
    at.button(key="listen-start").click().run()
    assert not at.exception, at.exception
    return at


def test_listen_plays_two_excerpts_and_saves_the_answer(listening_model: str) -> None:
    from musicgen.listening.db import ListeningDB

    at = _listen(listening_model)
    assert not at.error
    assert at.subheader[0].value == "Round 1 of 10"
    assert len(at.get("audio")) == 2
    at.radio[0].set_value("Sure")
    at.button(key="listen-pick-b").click().run()
    assert not at.exception and not at.error
    quiz = at.session_state["listen"]["quiz"]
    right = quiz.rounds[0].human_slot == 1
    assert (at.success if right else at.info)[0].value.startswith("Right" if right else "Not this time")
    [row] = [r for r in ListeningDB().rows("answers") if r["quiz_id"] == quiz.quiz_id]
    assert (row["model"], row["picked_slot"], row["correct"], row["confidence"]) == (
        listening_model, 1, int(right), 3)
    assert row["session_id"] == at.session_state["listener_id"]
    at.button(key="listen-next").click().run()
    assert at.subheader[0].value == "Round 2 of 10"


def test_listen_ten_rounds_end_with_a_score_against_chance(listening_model: str) -> None:
    at = _listen(listening_model)
    for _ in range(10):
        at.button(key="listen-pick-a").click().run()
        if at.session_state["listen"]["quiz"].finished:
            break
        at.button(key="listen-next").click().run()
    quiz = at.session_state["listen"]["quiz"]
    assert quiz.finished and not at.exception and not at.error
    expected = sum(r.human_slot == 0 for r in quiz.rounds)
    assert any(s.value == f"Your score: {expected} of 10" for s in at.subheader)
    assert any(f"{expected} times out of 10" in m.value for m in at.markdown)
    assert at.button(key="listen-start").label == "Another round of 10"
    assert len(at.get("download_button")) == 2


def test_listen_with_a_damaged_database_warns_and_still_plays(listening_model: str, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    shared = Path(os.environ["MUSICGEN_DATA_DIR"])
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / listening_model).symlink_to(shared / "models" / listening_model)
    (tmp_path / "listening.sqlite3").write_bytes(b"not a database, just some bytes\n" * 100)
    monkeypatch.setenv("MUSICGEN_DATA_DIR", str(tmp_path))
    at = _listen(listening_model)
    assert not at.error
    assert any("damaged" in w.value for w in at.warning)
    at.button(key="listen-pick-a").click().run()
    assert not at.exception and not at.error
    assert at.session_state["listen"]["quiz"].picks == [0]
    assert at.button(key="listen-next")  # the quiz goes on


def test_compose_redraws_copies_once_the_models_training_music_is_read(user_model: str) -> None:
    import json
    import shutil
    import time

    from musicgen.originality import copy_index
    from musicgen.paths import data_dir

    model = data_dir() / "models" / "aaa-debug-rnn-tunes"  # the debug RNN, its card naming a folder of MIDI files
    if not model.exists():
        shutil.copytree(data_dir() / "models" / user_model, model)
        card = json.loads((model / "card.json").read_text())
        (model / "card.json").write_text(json.dumps({**card, "corpus": str(ROOT / "assets" / "examples")}))
    copy_index(model.name)  # on disk, as a first visit leaves it: the page loads it in milliseconds
    at = _compose(model.name)
    for _ in range(20):  # the page loads the index in a thread of its own
        at.button[0].click().run()
        if at.session_state["rating_context"]["params"].avoid_copies:
            break
        time.sleep(0.25)
    assert not at.exception and not at.error
    assert at.session_state["rating_context"]["params"].avoid_copies  # on by default
    assert len(at.session_state["takes"]) == 2
    at.toggle(key="avoid_copies").set_value(False)
    at.button[0].click().run()
    assert not at.session_state["rating_context"]["params"].avoid_copies


def test_compose_take_is_rated_with_its_model_settings_and_seed(user_model: str) -> None:
    import json

    from musicgen.listening.db import ListeningDB

    at = _compose(user_model)
    at.button[0].click().run()
    at.button(key="rate-save-1").click().run()
    assert any("Pick 1 to 5 stars first" in c.value for c in at.caption)
    at.feedback[1].set_value(3)  # the second take's stars: index 3 is four stars
    [comment] = [t for t in at.text_input if t.label == "Comment (optional)" and t.key.endswith("-1-comment")]
    comment.set_value("a good cadence")
    at.button(key="rate-save-1").click().run()
    assert not at.exception and not at.error
    assert any(c.value.startswith("Saved: ★★★★☆") for c in at.caption)
    [row] = [r for r in ListeningDB().rows("ratings") if r["session_id"] == at.session_state["listener_id"]]
    assert (row["model"], row["stars"], row["take"], row["comment"]) == (user_model, 4, 1, "a good cadence")
    settings = json.loads(row["params"])
    assert (settings["bars"], settings["n_variations"], settings["random_seed"]) == (1, 2, 0)
    assert row["seed_midi"][:4] == b"MThd"


# ----------------------------------------------------------------- Harmonize
HARMONIZE = str(ROOT / "pages" / "harmonize.py")


def _harmonize(model: str, example: str | None = None) -> AppTest:
    at = AppTest.from_file(HARMONIZE, default_timeout=120).run()
    assert not at.exception, at.exception
    if example:
        at.selectbox(key="harmonize-example").set_value(example).run()
    if not at.error:
        at.selectbox(key="h-model").set_value(model)
        at.slider(key="h-variations").set_value(2)
        next(b for b in at.button if b.label == "Harmonize").click().run()
    return at


def test_harmonize_writes_voices_under_the_soprano_and_rewrites_a_part(user_model: str) -> None:
    at = _harmonize(user_model)  # the first example: a Bach chorale, whose soprano is the melody
    assert not at.exception and not at.error
    assert at.selectbox(key="h-track").value == 0
    takes = [t for t, _ in at.session_state["harmonies"]["takes"]]
    assert len(takes) == 2
    assert all([tr.name for tr in t.tracks] == ["Soprano", "Alto", "Tenor", "Bass"] for t in takes)
    assert len(at.get("image")) == 3 and len(at.get("audio")) == 3  # the melody and two harmonizations
    assert len(at.get("download_button")) == 4
    first = takes[0]
    at.button_group(key="h-lock-bars").set_value([1]).run()
    at.button(key="h-rewrite").click().run()
    assert not at.exception and not at.error
    rewrites = [t for t, _ in at.session_state["harmonies"]["takes"]]
    bar = first.steps_per_bar
    for take in rewrites:
        assert [n for n in take.notes if n.start < bar] == [n for n in first.notes if n.start < bar]
        assert [n for n in take.notes if n.track == 0] == [n for n in first.notes if n.track == 0]


def test_harmonize_with_a_gan_keeps_the_melody_and_the_kept_bar() -> None:
    at = _harmonize("gan-bach")
    assert not at.exception and not at.error
    takes = [t for t, _ in at.session_state["harmonies"]["takes"]]
    assert len(takes) == 2
    assert all([tr.name for tr in t.tracks] == ["Soprano", "Alto", "Tenor", "Bass"] for t in takes)
    first = takes[0]
    at.button_group(key="h-lock-bars").set_value([1]).run()
    at.button(key="h-rewrite").click().run()
    assert not at.exception and not at.error
    bar = first.steps_per_bar
    for take in [t for t, _ in at.session_state["harmonies"]["takes"]]:
        assert [n for n in take.notes if n.start < bar] == [n for n in first.notes if n.start < bar]
        assert [n for n in take.notes if n.track == 0] == [n for n in first.notes if n.track == 0]


def test_harmonize_explains_a_melody_it_cannot_use(user_model: str) -> None:
    at = _harmonize(user_model, "Reel: The 7th Regiment (fiddle, Ryan's Mammoth)")  # A3 to C#6
    assert not at.exception
    assert "wider than a choir's top voice" in at.error[0].value
