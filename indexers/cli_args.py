"""The parse step shared by every `python -m` entry point (argparse errors become an exit code), and
options made from a pydantic config's fields."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["add_field_options", "log_progress", "parse_args"]


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace | int:
    """Parse `argv` (None: the process's arguments), or return the exit code argparse chose.

    On a usage error argparse prints the usage and the problem to stderr and exits with 2; `--help`
    prints the help and exits with 0. Both come back here as the code, so `main()` can return it
    instead of raising `SystemExit` (testable, no traceback).

    Returns:
        The parsed arguments, or the exit code (0 after `--help`, 2 after a usage error).
    """
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2


def log_progress(logger: logging.Logger) -> None:
    """Log timestamped warnings from every library and `logger`'s progress (INFO) to stderr."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logger.setLevel(logging.INFO)


def add_field_options(
    parser: argparse.ArgumentParser, fields: Mapping[str, Any], types: Mapping[str, type]
) -> None:
    """One `--kebab-name` option per entry of `types` (field name -> value type), with the default and
    description of the pydantic field of that name in `fields` (a model's `model_fields`)."""
    for name, kind in types.items():
        field = fields[name]
        parser.add_argument(
            f"--{name.replace('_', '-')}", type=kind, default=field.default, help=field.description
        )
