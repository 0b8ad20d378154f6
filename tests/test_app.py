"""The Streamlit app, driven headless with AppTest."""

from __future__ import annotations

from pathlib import Path

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
