"""The CLI's subcommands, each a name, its arguments and a function.

Kept apart from ``__main__`` so that each later feature adds one entry here.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .midi import MidiInputError, load_midi
from .score import ScoreError, describe


class CliError(Exception):
    """A bad command line; the message says what to change."""


# What a user can cause, and so gets a one-line ``error:`` instead of a traceback.
USER_ERRORS: tuple[type[Exception], ...] = (CliError, MidiInputError, ScoreError, OSError)


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


COMMANDS: list[Command] = [
    Command("info", "Describe a MIDI file: tracks, notes, tempo, meter, key.", _info_args, _info),
]
