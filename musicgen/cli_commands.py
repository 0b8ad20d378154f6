"""The CLI's subcommands, each a name, its arguments and a function.

Kept apart from ``__main__`` so that each later feature adds one entry here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .audio import MIME_TYPES, RenderOptions, encode, render
from .errors import MusicgenError
from .midi import MidiInputError, load_midi
from .score import ScoreError, describe


class CliError(Exception):
    """A bad command line; the message says what to change."""


# What a user can cause, and so gets a one-line ``error:`` instead of a traceback.
USER_ERRORS: tuple[type[Exception], ...] = (CliError, MusicgenError, MidiInputError, ScoreError, OSError)


@dataclass(frozen=True)
class Command:
    """One subcommand of ``python -m musicgen``."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _info_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="a MIDI file (.mid)")


def _info(args: argparse.Namespace) -> int:
    score = load_midi(args.file)
    print(f"{'file':9} {args.file}")
    for label, value in describe(score):
        print(f"{label + (':' if label else ''):9} {value}")
    return 0


def _render_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", type=Path, help="a MIDI file (.mid)")
    p.add_argument("output", type=Path, help="the audio file to write: .wav, .flac or .ogg")
    p.add_argument("--soundfont", type=Path,
                   help="a .sf2 SoundFont (default: MUSICGEN_SOUNDFONT or the system's)")
    p.add_argument("--program", type=int, help="one General MIDI program 0-127 for every pitched track")
    p.add_argument("--bpm", type=float, help="play at this tempo instead of the file's")
    p.add_argument("--dry", action="store_true", help="no reverb or chorus")


def _render(args: argparse.Namespace) -> int:
    fmt = args.output.suffix.lower().lstrip(".")
    if fmt not in MIME_TYPES:
        raise CliError(f"cannot write {args.output.name}: use a .wav, .flac or .ogg file name")
    if args.program is not None and not 0 <= args.program <= 127:
        raise CliError("--program must be a General MIDI program between 0 and 127")
    if args.bpm is not None and not 10 <= args.bpm <= 400:
        raise CliError("--bpm must lie between 10 and 400")
    score = load_midi(args.input)
    options = RenderOptions(program=args.program, bpm=args.bpm, effects=not args.dry)
    rendered = render(score, options, soundfont=args.soundfont)
    args.output.write_bytes(encode(rendered, fmt))
    if rendered.notice:
        print(f"note: {rendered.notice}", file=sys.stderr)
    print(f"wrote {args.output} ({rendered.seconds:.1f} s, {rendered.renderer})")
    return 0


def _bench_args(p: argparse.ArgumentParser) -> None:
    from .bench import SUITES

    p.add_argument("--suite", action="append", choices=sorted(SUITES), help="run only this suite (repeatable)")
    p.add_argument("--repeat", type=int, default=5, help="timed runs per case, after one warm-up (default 5)")
    p.add_argument("--json", type=Path, help="also write the results as JSON here")


def _bench(args: argparse.Namespace) -> int:
    from .bench import SUITES, run

    if args.repeat < 1:
        raise CliError("--repeat must be at least 1")
    run(args.suite or list(SUITES), repeat=args.repeat, json_path=args.json)
    return 0


COMMANDS: list[Command] = [
    Command("info", "Describe a MIDI file: tracks, notes, tempo, meter, key.", _info_args, _info),
    Command("render", "Play a MIDI file into an audio file with FluidSynth.", _render_args, _render),
    Command("bench", "Time the engine against the baselines; print a table, write JSON.", _bench_args, _bench),
]
