"""Command line: ``python -m musicgen COMMAND ...``.

Every command exits 0 on success. On a problem the user can fix it prints one line
starting with ``error:`` on stderr and exits 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from . import cli_commands

USER_ERROR_EXIT = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad arguments as one ``error:`` line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise cli_commands.CliError(f"{message} (see python -m {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    """The parser for every subcommand."""
    parser = _Parser(prog="musicgen", description="Compose with neural networks.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in cli_commands.COMMANDS:
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(p)
        p.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    try:
        args = build_parser().parse_args(argv)
        run: Callable[[argparse.Namespace], int] = args.run
        return run(args)
    except cli_commands.USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USER_ERROR_EXIT
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
