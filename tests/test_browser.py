"""The real app in a real browser: `streamlit run` on a loopback port, driven by Playwright
through Debian's headless Chromium (installed by `make test`'s setup).

Screenshots of Compose and Models go to ``test-output/`` at the repository root.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import soundfile

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "test-output"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SEED = ROOT / "assets" / "examples" / "ode-to-joy-melody.mid"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                                reason="Debian's chromium is not installed (make test installs it when run as root)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app, served by streamlit on a free loopback port, with its own data folder."""
    port = _free_port()
    env = {**os.environ, "MUSICGEN_DATA_DIR": str(tmp_path_factory.mktemp("browser-data")),
           "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    log = (tmp_path_factory.getbasetemp() / "streamlit.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("streamlit did not start within a minute")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(90_000)
    page.goto(server)
    page.get_by_text("musicgen studio", exact=True).first.wait_for()
    yield page
    context.close()


def _open(page, title: str) -> None:
    page.get_by_role("link", name=title).first.click()
    page.get_by_role("heading", name=title).first.wait_for()


def _no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0


def test_upload_generate_listen_and_download(page) -> None:
    _open(page, "Compose")
    page.get_by_text("My own MIDI file").click()
    page.locator('input[type="file"]').first.set_input_files(str(SEED))
    page.get_by_text(SEED.name).first.wait_for()  # the seed is read: its expander shows the name
    page.get_by_role("button", name="Generate").click()
    page.get_by_text("takes ready").wait_for()
    page.locator('[data-testid="stAudio"]').nth(4).wait_for()  # the seed's player and four takes
    assert page.locator('[data-testid="stImage"]').count() >= 5  # piano rolls: the seed and four takes
    _no_exception(page)
    with page.expect_download() as info:
        page.locator('[data-testid="stDownloadButton"] button').first.click()
    path = info.value.path()
    assert Path(path).read_bytes()[:4] == b"MThd"
    with page.expect_download() as info:  # the WAV, rendered when asked for, at 44.1 kHz
        page.locator('[data-testid="stDownloadButton"] button').nth(1).click()
    wav = Path(info.value.path()).read_bytes()
    assert wav[:4] == b"RIFF" and soundfile.info(io.BytesIO(wav)).samplerate == 44100
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "compose.png"), full_page=True)


def test_models_page_shows_the_models(page) -> None:
    _open(page, "Models")
    page.locator('[data-testid="stDataFrame"]').first.wait_for()  # the table of models
    page.get_by_text("Parameters").first.wait_for()  # the chosen model's facts
    page.get_by_text("Training curve").first.wait_for()
    _no_exception(page)
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "models.png"), full_page=True)


def test_a_bad_upload_is_an_error_box_not_a_traceback(page, tmp_path: Path) -> None:
    bad = tmp_path / "not-music.mid"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    _open(page, "Compose")
    page.get_by_text("My own MIDI file").click()
    page.locator('input[type="file"]').first.set_input_files(str(bad))
    page.locator('[data-testid="stAlertContentError"]').first.wait_for()
    assert "not-music.mid" in page.locator('[data-testid="stAlertContentError"]').first.inner_text()
    _no_exception(page)


def test_listening_test_plays_and_answers_one_round(page) -> None:
    _open(page, "Listen")
    chooser = page.locator(".st-key-listen-model input")
    chooser.click()
    chooser.fill("rnn-jsb")
    chooser.press("Enter")
    page.locator(".st-key-listen-start button").click()
    page.get_by_text("Round 1 of 10").wait_for(timeout=240_000)  # the first excerpts may still be in the making
    page.locator('[data-testid="stAudio"]').nth(1).wait_for()  # the page draws the round element by element
    assert page.locator('[data-testid="stAudio"]').count() == 2
    page.locator(".st-key-listen-pick-a button").click()
    page.get_by_text("was written by a person (").first.wait_for()  # the answer is revealed
    page.locator(".st-key-listen-next button").wait_for()
    _no_exception(page)
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0
