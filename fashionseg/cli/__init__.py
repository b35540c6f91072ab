"""The ``fashionseg`` command line (also ``python -m fashionseg``).

Run ``fashionseg --help`` or ``fashionseg COMMAND --help`` for usage. Every
error a user can cause (a :class:`FashionSegError`, a bad argument, a file the
system refuses) ends as one ``error: ...`` line on stderr and exit status 2;
arguments, inputs and outputs are checked before a model loads or a file is
written.

Layout (as huggingface_hub's ``commands/``): :mod:`.options` defines the options
several commands share and the argument types; each command group is a module
with ``register(subparsers)``, which adds its subcommands and sets their ``func``;
:mod:`.common` holds what the handlers share (model folders, photo checks).
Diagnostics go through :mod:`logging` (the ``fashionseg`` logger, configured by
:func:`configure_logging` from ``--quiet``/``--verbose``); a command's result is
printed on stdout.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from fashionseg import __version__
from fashionseg.cli import bench, convert, evaluate, export, predict, robustness, store, thresholds, train, vocab
from fashionseg.cli.options import Parser, add_verbosity, leaf_commands
from fashionseg.exceptions import FashionSegError

# TensorFlow's C++ start-up notices (oneDNN, CPU features) are noise to a CLI user.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

GROUPS = (convert, store, train, evaluate, predict, bench, export, thresholds, robustness, vocab)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="fashionseg", description="Fashion classification and segmentation tools.")
    parser.add_argument("--version", action="version", version=f"fashionseg {__version__}")
    add_verbosity(parser, top=True)
    commands = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(commands)
    for command in leaf_commands(parser):  # built once, so every command takes them
        add_verbosity(command)
    return parser


class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes (pytest's capture, a redirected stream)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


class _Format(logging.Formatter):
    """INFO as the bare message; ``warning: ...``, ``error: ...``; ``debug: LOGGER: ...``."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        if record.levelno == logging.INFO:
            return message
        if record.levelno < logging.INFO:
            return f"debug: {record.name}: {message}"
        return f"{record.levelname.lower()}: {message}"


def configure_logging(quiet: bool = False, verbose: bool = False) -> None:
    """One stderr handler on the ``fashionseg`` logger: WARNING with ``quiet``, DEBUG with ``verbose``, else INFO.

    The logger stops propagating to the root logger, whose handler a dependency may have set up (a
    ``logging.warning`` call in TensorFlow or Ray does), so no line shows twice. Calling it again (``main``
    run twice in one process) replaces the handler instead of adding one.
    """
    logger = logging.getLogger("fashionseg")
    for handler in [h for h in logger.handlers if isinstance(h, _Stderr)]:
        logger.removeHandler(handler)
    handler = _Stderr()
    handler.setFormatter(_Format())
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.quiet and args.verbose:  # one before the command, the other after it
            parser.error("--quiet and --verbose exclude each other")
    except SystemExit as exc:  # --help, --version, or a bad argument (already reported)
        return exc.code if isinstance(exc.code, int) else 2 if exc.code else 0
    configure_logging(args.quiet, args.verbose)
    try:
        return args.func(args)
    except FashionSegError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file the system refuses: missing, unreadable, no space left
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
