"""What several commands do with their arguments: find and load a model, check photos and where results go.

Command modules call these through the module (``common.load_maskrcnn(...)``), so a
test can replace one (``monkeypatch.setattr(common, "load_unet", ...)``) for every
command at once.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from fashionseg.cli.options import MODEL_LABELS
from fashionseg.exceptions import UsageError

log = logging.getLogger(__name__)


def model_folder(kind: str, path: str | None) -> Path:
    """``--weights`` if given, else the default model of ``kind`` named in weights/defaults.json; checked."""
    from fashionseg.exceptions import ModelNotTrainedError
    from fashionseg.models.model_folder import check_model_folder
    from fashionseg.settings import default_weights

    label = MODEL_LABELS[kind]
    chosen = path or default_weights(kind)
    if chosen is None:
        raise ModelNotTrainedError(f"no --weights given and no default {label} in weights/defaults.json")
    check_model_folder(Path(chosen), label)  # before TensorFlow loads (seconds, and noise on stderr)
    log.debug("%s model folder: %s", label, chosen)
    return Path(chosen)


def load_unet(path: str | None, runtime: str | None = None):
    """The U-Net of ``--weights`` (or the default one) and its folder."""
    from fashionseg.models.unet.predictor import GarmentSegmenter

    folder = model_folder("unet", path)
    return GarmentSegmenter.load(folder, runtime=runtime), folder


def load_maskrcnn(path: str | None, runtime: str | None = None):
    """The Mask R-CNN of ``--weights`` (or the default one) and its folder."""
    from fashionseg.models.maskrcnn.predictor import InstanceSegmenter

    folder = model_folder("maskrcnn", path)
    return InstanceSegmenter.load(folder, runtime=runtime), folder


def predict_options(args) -> dict:
    """The Mask R-CNN's inference options given on the command line (``options.add_predict_options``)."""
    options = {}
    if args.min_confidence is not None:
        options["min_confidence"] = args.min_confidence
    if args.max_instances is not None:
        options["max_instances"] = args.max_instances
    if args.max_per_class is not None:
        caps = dict(args.max_per_class)  # (class, n) pairs, checked by options.class_cap
        if len(caps) < len(args.max_per_class):
            raise UsageError("--max-per-class names a class twice")
        options["max_per_class"] = caps
    if args.focus is not None:
        options["focus"] = args.focus
    if args.label_head is not None:
        options["label_head"] = args.label_head
    return options


def uses_ray(args) -> bool:
    return bool(args.ray or args.ray_address)


def ray_predictions(args, weights: Path, kind: str = "maskrcnn"):
    """The ``predict_many`` of a command given --ray or --ray-address (for the ``kind`` of model), else None."""
    if not uses_ray(args):
        return None
    from fashionseg.evaluation.ray_batch import ray_garment_predictions, start_ray
    from fashionseg.evaluation.ray_batch import ray_predictions as on_ray

    predict_many = (on_ray if kind == "maskrcnn" else ray_garment_predictions)(
        weights
    )  # checks the folder before a cluster starts
    start_ray(args.ray_address, args.ray_cpus)
    return predict_many


def check_photos(sources: list[str], decode: bool = False) -> None:
    """Each photo present and an image within the pixel limit: its header read, or with ``decode`` the whole
    photo (a truncated one then fails before the first result is written, not in the middle of the batch)."""
    from fashionseg.core.images import load_image, read_image_size

    check = load_image if decode else read_image_size
    for source in sources:
        check(source)


def photo_outputs(sources: list[str], out: Path) -> list[tuple[Path, Path]]:
    """Each photo, checked (it decodes, within the pixel limit), with the base path of its outputs.

    The base keeps each photo's path relative to the photos' common folder
    (``a.jpg sub/a.jpg`` -> ``out/a``, ``out/sub/a``), so photos of one name in
    different folders never overwrite each other's results; two photos of one
    folder that differ only in extension (``a.jpg a.png``) would, and are refused.
    """
    check_photos(sources, decode=True)
    photos: dict[Path, Path] = {}
    for source in sources:
        photos.setdefault(Path(source).resolve(), Path(source))  # one photo named twice runs once
    root = Path(os.path.commonpath([p.parent for p in photos]))
    bases: dict[Path, Path] = {}
    for resolved, given in photos.items():
        base = out / resolved.relative_to(root).with_suffix("")
        if base in bases:
            raise UsageError(
                f"{bases[base]} and {given} would write the same files ({base}_*); rename one or run them separately"
            )
        bases[base] = given
    return [(given, base) for base, given in bases.items()]


def beside(base: Path, suffix: str) -> Path:
    """``base`` + ``suffix``, its folder made."""
    base.parent.mkdir(parents=True, exist_ok=True)
    return base.with_name(base.name + suffix)


def mapping(path: str | None, default: str):
    """``--mapping`` if given, else a built-in mapping."""
    from fashionseg.core.mapping import load_mapping

    return load_mapping(path or default)
