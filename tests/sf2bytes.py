"""A tiny SoundFont 2 file, written by hand for the tests (the SoundFont 2.04 layout).

FluidR3 sends none of its presets to the chorus; this one has a preset whose loud notes do:

- bank 0, program 0: a sine at 441 Hz; velocities 0-63 dry, 64-127 with a 50% chorus send;
- bank 0, program 1: the same sine, never sent to the chorus.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

RATE = 44100
KEY_RANGE, VEL_RANGE, CHORUS_SEND, INSTRUMENT, SAMPLE_ID, SAMPLE_MODES = 43, 44, 15, 41, 53, 54


def _chunk(name: bytes, data: bytes) -> bytes:
    return name + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")


def _list(kind: bytes, *chunks: bytes) -> bytes:
    return _chunk(b"LIST", kind + b"".join(chunks))


def _name(text: str) -> bytes:
    return text.encode("ascii").ljust(20, b"\0")[:20]


def _gens(pairs: list[tuple[int, int | tuple[int, int]]]) -> bytes:
    out = b""
    for oper, amount in pairs:
        out += struct.pack("<HBB", oper, *amount) if isinstance(amount, tuple) else struct.pack("<Hh", oper, amount)
    return out


def chorus_test_soundfont(path: Path) -> Path:
    """Write the SoundFont to ``path``; returns it."""
    period, n = 100, 4410  # 441 Hz: a whole number of samples a cycle, so the loop is seamless
    sine = np.round(12000 * np.sin(2 * np.pi * np.arange(n) / period)).astype("<i2")
    smpl = sine.tobytes() + bytes(2 * 46)  # every sample ends with 46 zero points
    # Zones: instrument 0 (dry soft, chorused loud), instrument 1 (dry).
    izones = [[(VEL_RANGE, (0, 63)), (SAMPLE_MODES, 1), (SAMPLE_ID, 0)],
              [(VEL_RANGE, (64, 127)), (CHORUS_SEND, 500), (SAMPLE_MODES, 1), (SAMPLE_ID, 0)],
              [(SAMPLE_MODES, 1), (SAMPLE_ID, 0)]]
    pzones = [[(INSTRUMENT, 0)], [(INSTRUMENT, 1)]]

    def bags(zones: list) -> tuple[bytes, bytes]:
        bag, gen, index = b"", b"", 0
        for zone in zones:
            bag += struct.pack("<HH", index, 0)
            gen += _gens(zone)
            index += len(zone)
        return bag + struct.pack("<HH", index, 0), gen + bytes(4)

    pbag, pgen = bags(pzones)
    ibag, igen = bags(izones)
    phdr = b"".join(_name(name) + struct.pack("<HHHIII", program, 0, bag, 0, 0, 0)
                    for name, program, bag in (("Chorused when loud", 0, 0), ("Dry", 1, 1), ("EOP", 0, 2)))
    inst = b"".join(_name(name) + struct.pack("<H", bag) for name, bag in (("Sine split", 0), ("Sine", 2), ("EOI", 3)))
    shdr = (_name("Sine 441") + struct.pack("<IIIIIBbHH", 0, n, 1000, 4000, RATE, 69, 0, 0, 1)
            + _name("EOS") + bytes(26))
    body = b"sfbk" + _list(b"INFO", _chunk(b"ifil", struct.pack("<HH", 2, 1)), _chunk(b"isng", b"EMU8000\0"),
                           _chunk(b"INAM", b"musicgen test\0")) \
        + _list(b"sdta", _chunk(b"smpl", smpl)) \
        + _list(b"pdta", _chunk(b"phdr", phdr), _chunk(b"pbag", pbag), _chunk(b"pmod", bytes(10)),
                _chunk(b"pgen", pgen), _chunk(b"inst", inst), _chunk(b"ibag", ibag), _chunk(b"imod", bytes(10)),
                _chunk(b"igen", igen), _chunk(b"shdr", shdr))
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path
