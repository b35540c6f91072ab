"""The options several commands share, each defined once here, and the argument types that check values while parsing.

A command group adds a shared option with ``add_...(parser)``; the definition (flags,
type, default, help) lives only here, so ``--db`` or ``--weights`` reads the same
in every command. The argument types (:func:`number`, :func:`fraction`,
:func:`count`, :func:`class_cap`) refuse a bad value as argparse's one ``error:``
line; :func:`output_folder` and :func:`output_file` check an ``--out`` before any
work.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from fashionseg.exceptions import UsageError
from fashionseg.settings import default_weights, store_location

RUNTIMES = ("keras", "onnx")
SPLITS = ("train", "val")
# The model kinds a --weights option names, and how errors call them.
MODEL_LABELS = {"maskrcnn": "Mask R-CNN", "unet": "U-Net"}


class Parser(argparse.ArgumentParser):
    """argparse, reporting a bad argument as the one ``error:`` line every other failure prints."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


# ---------------------------------------------------------------- argument types


def number(text: str) -> float:
    """A finite number; NaN and infinities refused."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def non_negative(text: str) -> float:
    """A finite number of at least 0 (relative odds, weights)."""
    value = number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative")
    return value


def fraction(text: str) -> float:
    """A number from 0 to 1 (thresholds, confidences, shares); NaN and infinities refused."""
    value = number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not from 0 to 1")
    return value


def count(minimum: int):
    """A whole number of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is below {minimum}")
        return value

    return parse


def class_cap(text: str) -> tuple[str, int]:
    """``CLASS=N``: at most N instances of one of the 11 classes."""
    from fashionseg.core.vocabulary import FASHIONSEG11

    name, equals, n = text.rpartition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not CLASS=N (e.g. shoe=2)")
    if name not in FASHIONSEG11.names:
        raise argparse.ArgumentTypeError(
            f"{name!r} is not a class; classes: {', '.join(map(repr, FASHIONSEG11.names))}"
        )
    try:
        return name, count(0)(n)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None


def output_folder(path: str | Path) -> Path:
    """``--out`` naming a folder to write into (made if missing); refused when a file is in the way."""
    out = Path(path)
    blocker = next((p for p in (out, *out.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise UsageError(f"--out {out}: {blocker} is a file, not a folder")
    return out


def output_file(path: str | Path) -> Path:
    """``--out`` naming a file to (over)write; refused when it is a folder or a file is in the way."""
    out = Path(path)
    if out.is_dir():
        raise UsageError(f"--out {out}: is a folder; name the file to write")
    output_folder(out.parent)
    return out


# ---------------------------------------------------------------- shared options

QUIET_HELP = "no progress bars or progress messages; only warnings and errors on stderr"
VERBOSE_HELP = "debug messages on stderr as well"


def add_verbosity(parser: argparse.ArgumentParser, top: bool = False) -> None:
    """``--quiet`` and ``--verbose``. The top-level parser owns their defaults; a subcommand's copy sets them
    only when given (``default=SUPPRESS``), so ``fashionseg --quiet CMD`` is not undone by CMD's default."""
    default = False if top else argparse.SUPPRESS
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quiet", action="store_true", default=default, help=QUIET_HELP)
    group.add_argument("--verbose", action="store_true", default=default, help=VERBOSE_HELP)


def leaf_commands(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parsers of the commands that run (``export unet``, ``vocab``), below ``parser``."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        return [parser]
    return [leaf for sub in groups[0].choices.values() for leaf in leaf_commands(sub)]


def _shipped_name(kind: str) -> str | None:
    try:
        folder = default_weights(kind)
    except Exception:  # help text never breaks a command
        return None
    return folder.name if folder is not None else None


def default_model_note(kind: str) -> str:
    """How a --weights option's default reads in help: weights/defaults.json's choice, named as it is today."""
    name = _shipped_name(kind)
    return (
        f"default: the one weights/defaults.json names, now {name}"
        if name
        else "default: the one weights/defaults.json names; none yet"
    )


def weights_help(kind: str) -> str:
    return f"{MODEL_LABELS[kind]} model folder ({default_model_note(kind)})"


def add_weights(parser: argparse.ArgumentParser, kind: str, help: str | None = None) -> None:
    """``--weights DIR``: the model folder; ``None`` when not given, resolved by ``common.model_folder``
    from :func:`fashionseg.settings.default_weights` when the command runs."""
    parser.add_argument("--weights", metavar="DIR", help=help or weights_help(kind))


DB_HELP = (
    "store file or database URL (postgresql://USER:PASSWORD@HOST/DB); 'store import' makes it if missing "
    "(default data/fashionseg.db, or $FASHIONSEG_STORE)"
)


def add_db(parser: argparse.ArgumentParser) -> None:
    """``--db``: the annotation store (default :func:`fashionseg.settings.store_location`, read when the parser is built)."""
    parser.add_argument("--db", default=store_location(), help=DB_HELP)


RUNTIME_HELP = "default: ONNX when exported, else Keras"


def add_runtime(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runtime", choices=RUNTIMES, help=RUNTIME_HELP)


def add_split(
    parser: argparse.ArgumentParser,
    option: str = "--split",
    of: str = "--test",
    default: str | None = None,
    help: str | None = None,
) -> None:
    parser.add_argument(
        option, choices=SPLITS, default=default, help=help or f"only this split of {of} (default: every image in it)"
    )


def add_limit(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=count(1), help="only the first N test photos (a quick look, not a result)")


def add_run_name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-name", help="name in the experiments registry (default: the weights folder)")


def add_ray(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--ray", action="store_true", help="run the photos on a local Ray cluster (ONNX model, one worker per core)"
    )
    group.add_argument(
        "--ray-address", metavar="ADDRESS", help="run the photos on the Ray cluster at ADDRESS (e.g. 10.0.0.5:6379)"
    )
    parser.add_argument("--ray-cpus", type=count(1), help="cores of the local cluster (default: all)")


def shipped_maskrcnn_defaults() -> dict[str, str]:
    """The default Mask R-CNN's inference settings as the predict options' help states them, read from its
    config.json (weights/defaults.json names the model); the class defaults when there is none or it is broken."""
    from fashionseg.models.maskrcnn.config import MaskRCNNConfig
    from fashionseg.models.maskrcnn.label_head import LABEL_HEAD_FILE

    name = _shipped_name("maskrcnn")
    config, source = MaskRCNNConfig(), "without a trained model"
    if name is not None:
        with contextlib.suppress(Exception):  # a broken model folder is reported when a command loads it
            config, source = MaskRCNNConfig.load(default_weights("maskrcnn") / "config.json"), name
    per_class = config.DETECTION_MIN_CONFIDENCE_PER_CLASS
    confidence = f"{config.DETECTION_MIN_CONFIDENCE:g}"
    if per_class:
        low, high = min(per_class.values()), max(per_class.values())
        confidence = f"{low:g}-{high:g} for {len(per_class)} classes, {confidence} for the others"
    caps = " ".join(f"{k}={v}" for k, v in config.DETECTION_MAX_PER_CLASS.items()) or "none"
    return {
        "source": source,
        "confidence": confidence,
        "max_instances": str(config.DETECTION_MAX_INSTANCES),
        "max_per_class": caps,
        "focus": "on" if config.DETECTION_FOCUS else "off",
        "label_head": "has one" if name and (default_weights("maskrcnn") / LABEL_HEAD_FILE).is_file() else "none",
    }


def add_predict_options(parser: argparse.ArgumentParser) -> None:
    """The Mask R-CNN's inference options; each defaults to the model's own setting, the default model's stated."""
    shipped = shipped_maskrcnn_defaults()
    model = f"the default model ({shipped['source']})"
    parser.add_argument(
        "--min-confidence",
        type=fraction,
        help="drop detections below this score (default: the model's per-class thresholds, else its "
        f"DETECTION_MIN_CONFIDENCE; {model}: {shipped['confidence']})",
    )
    parser.add_argument(
        "--max-instances",
        type=count(1),
        help=f"at most this many instances per photo (default: the model's; {model}: {shipped['max_instances']})",
    )
    parser.add_argument(
        "--max-per-class",
        nargs="*",
        type=class_cap,
        metavar="CLASS=N",
        help=f"per-class caps (default: the model's; {model}: {shipped['max_per_class']})",
    )
    parser.add_argument(
        "--focus",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"second pass on a crop around small people (default: the model's DETECTION_FOCUS; {model}: "
        f"{shipped['focus']})",
    )
    parser.add_argument(
        "--label-head",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="let the model's image-level label head decide which classes a photo holds (default: when the "
        f"model has one and --min-confidence is not given; {model}: {shipped['label_head']})",
    )
