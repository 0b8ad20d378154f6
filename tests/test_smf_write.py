"""Writing MIDI files: what our reader, pretty_midi and mido each read back from score_to_bytes."""

from __future__ import annotations

import io
import struct

import mido
import pretty_midi
import pytest
from hypothesis import given
from hypothesis import strategies as st

from musicgen.midi import load_midi, score_to_bytes, score_to_pretty_midi
from musicgen.score import Note, Score, Track
from musicgen.smf import track_channel

# A waltz with a bass, a kit, a repeated D (the second strikes at the tick where the
# first ends), a two-bar gap (a two-byte delta) and a trailing bar of rest.
WALTZ = Score(
    notes=(Note(0, 62, 4, 90, 0), Note(4, 62, 4, 70, 0), Note(8, 66, 4, 80, 0),
           Note(44, 69, 4, 100, 0),
           Note(0, 38, 12, 60, 1), Note(36, 43, 12, 64, 1),
           Note(0, 36, 1, 127, 2), Note(4, 42, 1, 50, 2), Note(8, 42, 1, 50, 2)),
    tracks=(Track("Violin", 40), Track("Cello", 42), Track("Kit", 0, True)),
    bpm=96, time_signature=(3, 4), length=60,
)

# Seventeen pitched tracks and a kit in the middle: channels run out and cycle.
BAND = Score(
    notes=tuple(Note(2 * i, 40 + i, 3, 60 + i, i) for i in range(18)),
    tracks=tuple(Track("Kit", 0, True) if i == 5 else Track(f"Part {i}", i * 7) for i in range(18)),
    bpm=132.5, time_signature=(6, 8), steps_per_beat=12,
)


def _absolute(track: mido.MidiTrack) -> list[tuple[int, mido.Message]]:
    tick, out = 0, []
    for msg in track:
        tick += msg.time
        out.append((tick, msg))
    return out


def _mido(data: bytes) -> mido.MidiFile:
    return mido.MidiFile(file=io.BytesIO(data))


def _pretty_view(pm: pretty_midi.PrettyMIDI) -> list[tuple]:
    """Instruments with notes, as (name, program, is_drum, notes), in a fixed order.

    Each note is (pitch, velocity, start, end), times in seconds.
    """
    return sorted((inst.name, int(inst.program), bool(inst.is_drum),
                   sorted((n.pitch, n.velocity, n.start, n.end) for n in inst.notes))
                  for inst in pm.instruments if inst.notes)


def _assert_same_instruments(read: pretty_midi.PrettyMIDI, expected: pretty_midi.PrettyMIDI) -> None:
    """Same names, programs, drums, pitches and velocities; times within a millisecond
    (the file's tempo is a whole number of microseconds per beat)."""
    got, want = _pretty_view(read), _pretty_view(expected)
    assert [(*i[:3], [n[:2] for n in i[3]]) for i in got] == [(*i[:3], [n[:2] for n in i[3]]) for i in want]
    times = [t for i in got for n in i[3] for t in n[2:]]
    assert times == pytest.approx([t for i in want for n in i[3] for t in n[2:]], abs=1e-3)


# ----------------------------------------------------------------- our reader
@pytest.mark.parametrize("score", [WALTZ, BAND], ids=["waltz", "band"])
def test_round_trip_keeps_notes_tracks_tempo_meter_and_length(score: Score) -> None:
    back = load_midi(score_to_bytes(score), steps_per_beat=score.steps_per_beat)
    assert back == score
    assert back.tracks == score.tracks and back.bpm == score.bpm
    assert back.time_signature == score.time_signature and back.length == score.length


def test_trailing_rest_and_repeated_note_survive() -> None:
    back = load_midi(score_to_bytes(WALTZ))
    assert back.length == 60 and max(n.end for n in back.notes) == 48  # a bar of rest at the end
    violin = [(n.pitch, n.start, n.end, n.velocity) for n in back.notes if n.track == 0]
    assert violin[:2] == [(62, 0, 4, 90), (62, 4, 8, 70)]  # struck again, not tied


def test_a_repeated_pitch_is_released_before_it_strikes_again() -> None:
    events = [(tick, msg.note, msg.velocity) for tick, msg in _absolute(_mido(score_to_bytes(WALTZ)).tracks[1])
              if msg.type == "note_on" and msg.note == 62]
    assert events == [(0, 62, 90), (480, 62, 0), (480, 62, 70), (960, 62, 0)]


# ----------------------------------------------------------------- other readers
@pytest.mark.parametrize("score", [WALTZ, BAND], ids=["waltz", "band"])
def test_pretty_midi_reads_what_score_to_pretty_midi_holds(score: Score) -> None:
    pm = pretty_midi.PrettyMIDI(io.BytesIO(score_to_bytes(score)))
    _assert_same_instruments(pm, score_to_pretty_midi(score))
    _, bpms = pm.get_tempo_changes()
    assert list(bpms) == [pytest.approx(score.bpm, abs=1e-3)]
    assert [(ts.numerator, ts.denominator, ts.time) for ts in pm.time_signature_changes] == [
        (*score.time_signature, 0.0)]


@pytest.mark.parametrize("score", [WALTZ, BAND], ids=["waltz", "band"])
def test_mido_reads_the_conductor_track_and_every_track_lasts_the_score(score: Score) -> None:
    mid = _mido(score_to_bytes(score))
    assert (mid.type, mid.ticks_per_beat, len(mid.tracks)) == (1, 480, len(score.tracks) + 1)
    conductor = [msg.dict() for msg in mid.tracks[0]]
    assert conductor[0] == {"type": "set_tempo", "tempo": round(60e6 / score.bpm), "time": 0}
    assert conductor[1] == {"type": "time_signature", "numerator": score.time_signature[0],
                            "denominator": score.time_signature[1], "clocks_per_click": 24,
                            "notated_32nd_notes_per_beat": 8, "time": 0}
    assert conductor[2]["type"] == "end_of_track"
    end_tick = score.length * 480 // score.steps_per_beat
    assert [sum(msg.time for msg in track) for track in mid.tracks] == [end_tick] * len(mid.tracks)
    assert mid.length == pytest.approx(score.length * score.seconds_per_step, abs=1e-4)


def test_names_programs_and_channels_are_those_pretty_midi_writes() -> None:
    def layout(data: bytes) -> list[tuple]:
        return [(tuple(m.name for m in track if m.type == "track_name"),
                 tuple((m.channel, m.program) for m in track if m.type == "program_change"),
                 tuple(sorted({m.channel for m in track if m.type == "note_on"})))
                for track in _mido(data).tracks[1:]]

    old = io.BytesIO()
    score_to_pretty_midi(BAND).write(old)
    assert layout(score_to_bytes(BAND)) == layout(old.getvalue())
    channels = [track_channel(i, t.is_drum) for i, t in enumerate(BAND.tracks)]
    assert channels == [0, 1, 2, 3, 4, 9, 6, 7, 8, 10, 11, 12, 13, 14, 15, 0, 1, 2]


def test_names_outside_latin_1_are_written_with_question_marks() -> None:
    score = Score.from_tuples([(60, 80, 0, 4)], tracks=(Track("Ωboe café", 68),))
    assert load_midi(score_to_bytes(score)).tracks == (Track("?boe café", 68),)
    assert pretty_midi.PrettyMIDI(io.BytesIO(score_to_bytes(score))).instruments[0].name == "?boe café"


def test_chunk_lengths_add_up_to_the_file() -> None:
    data = score_to_bytes(WALTZ)
    pos, names = 0, []
    while pos < len(data):
        name, size = data[pos:pos + 4], struct.unpack(">I", data[pos + 4:pos + 8])[0]
        names.append(name)
        pos += 8 + size
        if name == b"MTrk":
            assert data[pos - 3:pos] == b"\xff\x2f\x00"  # each track ends with its end-of-track
    assert pos == len(data)
    assert names == [b"MThd"] + [b"MTrk"] * 4


def test_long_rests_take_multi_byte_deltas() -> None:
    # 3000 steps at 480 / 4 ticks per step = 360000 ticks: a three-byte delta.
    score = Score.from_tuples([(60, 80, 0, 4), (64, 80, 3000, 3004)], tracks=(Track("Organ", 19),), length=3100)
    mid = _mido(score_to_bytes(score))
    assert [tick for tick, msg in _absolute(mid.tracks[1]) if msg.type == "note_on"] == [0, 480, 360000, 360480]
    assert load_midi(score_to_bytes(score)) == score


# ----------------------------------------------------------------- determinism
def test_equal_scores_give_identical_bytes() -> None:
    shuffled = Score(notes=tuple(reversed(WALTZ.notes)), tracks=WALTZ.tracks, bpm=96,
                     time_signature=(3, 4), length=60)
    assert score_to_bytes(shuffled) == score_to_bytes(WALTZ) == score_to_bytes(WALTZ)


@st.composite
def scores(draw: st.DrawFn) -> Score:
    n_tracks = draw(st.integers(1, 20))
    tracks = tuple(Track(f"T{i}", draw(st.integers(0, 127)), draw(st.booleans())) for i in range(n_tracks))
    notes = [Note(draw(st.integers(0, 100)), draw(st.integers(0, 127)), draw(st.integers(1, 16)),
                  draw(st.integers(1, 127)), track)
             for track in range(n_tracks) for _ in range(draw(st.integers(1, 6)))]
    return Score(notes=tuple(notes), tracks=tracks, bpm=draw(st.integers(30, 240)),
                 steps_per_beat=draw(st.sampled_from([1, 2, 3, 4, 6, 8, 12, 16, 24])),
                 length=draw(st.integers(0, 150)))


@given(scores())
def test_every_reader_agrees_on_random_scores(score: Score) -> None:
    data = score_to_bytes(score)
    assert load_midi(data, steps_per_beat=score.steps_per_beat) == score
    _assert_same_instruments(pretty_midi.PrettyMIDI(io.BytesIO(data)), score_to_pretty_midi(score))
    end_tick = score.length * 480 // score.steps_per_beat
    assert max(sum(msg.time for msg in track) for track in _mido(data).tracks) == end_tick
