"""Corpora: splits by piece, user folders and zips with bad files, the music21 path."""

from __future__ import annotations

import io
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from enginefixtures import EXAMPLES, tiny_corpus

from musicgen.corpus import (
    Corpus,
    CorpusError,
    Piece,
    load_builtin,
    load_midi_files,
    music21_to_score,
    piece_meter,
    score_from_dict,
    score_to_dict,
    split_of,
    transpositions,
)
from musicgen.score import Score, Track


def test_splits_are_fixed_and_about_80_10_10() -> None:
    names = [f"piece-{i}" for i in range(2000)]
    counts = Counter(split_of(n) for n in names)
    assert 0.75 < counts["train"] / 2000 < 0.85
    assert 0.07 < counts["valid"] / 2000 < 0.13 and 0.07 < counts["test"] / 2000 < 0.13
    assert [split_of(n) for n in names] == [split_of(n) for n in names]


def test_every_piece_lands_in_exactly_one_split() -> None:
    corpus = tiny_corpus()
    sizes = [len(corpus.split(s)) for s in ("train", "valid", "test")]
    assert sum(sizes) == len(corpus.pieces)
    assert sizes[1] >= 1  # a small corpus still validates on something


def test_transpositions_stay_in_range_and_leave_drums() -> None:
    score = Score.from_tuples([(100, 80, 0, 4, 0), (36, 80, 0, 4, 1)], tracks=(Track(), Track(is_drum=True)))
    moved = transpositions(score, range(-3, 4), low=21, high=102)
    assert len(moved) == 6  # +3 would put 100 above 102
    assert all(any(n.pitch == 36 for n in m.notes) for m in moved)


def _folder(tmp_path: Path) -> Path:
    for path in EXAMPLES.glob("*.mid"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "notes.mid").write_bytes(b"this is text")
    (tmp_path / "empty.mid").write_bytes(b"")
    (tmp_path / "readme.txt").write_text("not music")
    return tmp_path


def test_user_folder_skips_bad_files_with_reasons(tmp_path: Path) -> None:
    corpus = load_midi_files(_folder(tmp_path))
    assert len(corpus.pieces) == 4
    assert dict(corpus.skipped).keys() == {"empty.mid", "sub/notes.mid"}
    assert "empty" in dict(corpus.skipped)["empty.mid"]


def test_zip_of_midi_files(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in EXAMPLES.glob("*.mid"):
            archive.writestr(f"songs/{path.name}", path.read_bytes())
        archive.writestr("songs/broken.mid", b"MThd\x00")
    from_bytes = load_midi_files(buffer.getvalue())
    assert len(from_bytes.pieces) == 4 and len(from_bytes.skipped) == 1
    path = tmp_path / "songs.zip"
    path.write_bytes(buffer.getvalue())
    assert [p.score for p in load_midi_files(path).pieces] == [p.score for p in from_bytes.pieces]


@pytest.mark.parametrize("make", ["empty-folder", "only-bad", "not-a-folder"])
def test_unusable_sources_raise_corpus_error(tmp_path: Path, make: str) -> None:
    if make == "only-bad":
        (tmp_path / "a.mid").write_bytes(b"junk")
    source = tmp_path / "missing" if make == "not-a-folder" else tmp_path
    with pytest.raises(CorpusError):
        load_midi_files(source)


def test_score_dict_round_trip() -> None:
    for piece in tiny_corpus().pieces:
        assert score_from_dict(score_to_dict(piece.score)) == piece.score


def test_music21_chorale_keeps_the_four_voices_and_merges_ties() -> None:
    from music21 import corpus

    stream = corpus.parse("bwv66.6")
    score = music21_to_score(stream, voices_only=True)
    assert [t.name for t in score.tracks] == ["Soprano", "Alto", "Tenor", "Bass"]
    soprano = [n.pitch for n in score.notes if n.track == 0]
    assert soprano == [n.pitch.midi for n in stream.parts[0].stripTies().flatten().notes]


def test_an_abc_tune_gets_its_written_meter_not_music21s_sixteenth() -> None:
    from music21 import corpus

    # O'Neill's #6 is written in 3/4; music21 puts a 1/16 time signature before it.
    score = music21_to_score(corpus.parse("oneills1850/0001-0050.abc", number=6))
    assert score.time_signature == (3, 4)
    assert score.steps_per_bar == 12


@pytest.mark.parametrize(("meters", "expected"), [
    ([(1, 16), (1, 16), (3, 4)], (3, 4)), ([(1, 8), (6, 8)], (6, 8)), ([(1, 4)], (4, 4)),
    ([(3, 8)], (3, 8)), ([(2, 2), (3, 4)], (2, 2)), ([], (4, 4)),
])
def test_piece_meter_skips_bars_shorter_than_three_eighths(meters, expected) -> None:
    assert piece_meter(meters) == expected


def test_builtin_corpus_is_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUSICGEN_DATA_DIR", str(tmp_path))
    calls = []
    first = load_builtin("bach", limit=3, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (3, 3) and len(first.pieces) == 3
    assert len(list((tmp_path / "cache").glob("corpus-bach-*/*.json"))) == 3
    calls.clear()
    again = load_builtin("bach", limit=3, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(3, 3)]  # all from the cache at once, nothing parsed
    assert [p.score for p in again.pieces] == [p.score for p in first.pieces]
    more = load_builtin("bach", limit=4, progress=lambda done, total: calls.append((done, total)))
    assert calls[-2:] == [(3, 4), (4, 4)]  # resumes: only the new file is parsed
    assert [p.score for p in more.pieces[:3]] == [p.score for p in first.pieces]


def test_unknown_builtin() -> None:
    with pytest.raises(CorpusError, match="Unknown corpus"):
        load_builtin("jazz")


def test_corpus_split_rejects_unknown_names() -> None:
    with pytest.raises(ValueError):
        Corpus("x", [Piece("a", Score())]).split("holdout")
