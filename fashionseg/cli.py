"""The ``fashionseg`` command line (also ``python -m fashionseg``).

Run ``fashionseg --help`` or ``fashionseg COMMAND --help`` for usage. Every
error a user can cause (a :class:`FashionSegError`, a bad argument, a file the
system refuses) ends as one ``error: ...`` line on stderr and exit status 2;
arguments, inputs and outputs are checked before a model loads or a file is
written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from fashionseg import __version__
from fashionseg.exceptions import FashionSegError, UsageError
from fashionseg.settings import pretrained_weights_dir, project_relative, store_location

DEFAULT_STORE = store_location()
# TensorFlow's C++ start-up notices (oneDNN, CPU features) are noise to a CLI user.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class _Parser(argparse.ArgumentParser):
    """argparse, reporting a bad argument as the one ``error:`` line every other failure prints."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _fraction(text: str) -> float:
    """A number from 0 to 1 (thresholds, confidences, shares); NaN and infinities refused."""
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not from 0 to 1")
    return value


def _count(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is below {minimum}")
        return value

    return parse


def _class_cap(text: str) -> tuple[str, int]:
    """``CLASS=N``: at most N instances of one of the 11 classes."""
    from fashionseg.core.vocabulary import FASHIONSEG11

    name, equals, count = text.rpartition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not CLASS=N (e.g. shoe=2)")
    if name not in FASHIONSEG11.names:
        raise argparse.ArgumentTypeError(f"{name!r} is not a class; classes: {', '.join(map(repr, FASHIONSEG11.names))}")
    try:
        return name, _count(0)(count)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None


def _output_folder(path: str) -> Path:
    """``--out`` naming a folder to write into (made if missing); refused when a file is in the way."""
    out = Path(path)
    blocker = next((p for p in (out, *out.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise UsageError(f"--out {out}: {blocker} is a file, not a folder")
    return out


def _output_file(path: str) -> Path:
    """``--out`` naming a file to (over)write; refused when it is a folder or a file is in the way."""
    out = Path(path)
    if out.is_dir():
        raise UsageError(f"--out {out}: is a folder; name the file to write")
    _output_folder(str(out.parent))
    return out


def _check_photos(sources: list[str], decode: bool = False) -> None:
    """Each photo present and an image within the pixel limit: its header read, or with ``decode`` the whole
    photo (a truncated one then fails before the first result is written, not in the middle of the batch)."""
    from fashionseg.core.images import load_image, read_image_size

    check = load_image if decode else read_image_size
    for source in sources:
        check(source)


def _photo_outputs(sources: list[str], out: Path) -> list[tuple[Path, Path]]:
    """Each photo, checked (it decodes, within the pixel limit), with the base path of its outputs.

    The base keeps each photo's path relative to the photos' common folder
    (``a.jpg sub/a.jpg`` -> ``out/a``, ``out/sub/a``), so photos of one name in
    different folders never overwrite each other's results; two photos of one
    folder that differ only in extension (``a.jpg a.png``) would, and are refused.
    """
    _check_photos(sources, decode=True)
    photos: dict[Path, Path] = {}
    for source in sources:
        photos.setdefault(Path(source).resolve(), Path(source))  # one photo named twice runs once
    root = Path(os.path.commonpath([p.parent for p in photos]))
    bases: dict[Path, Path] = {}
    for resolved, given in photos.items():
        base = out / resolved.relative_to(root).with_suffix("")
        if base in bases:
            raise UsageError(f"{bases[base]} and {given} would write the same files ({base}_*); rename one or run them separately")
        bases[base] = given
    return [(given, base) for base, given in bases.items()]


def _beside(base: Path, suffix: str) -> Path:
    base.parent.mkdir(parents=True, exist_ok=True)
    return base.with_name(base.name + suffix)


def _mapping(path: str | None, default: str):
    from fashionseg.core.mapping import load_mapping

    return load_mapping(path or default)


def cmd_convert_ccp(args) -> int:
    from fashionseg.convert.ccp import convert_ccp, read_ids_file

    _output_folder(args.out)
    ids = read_ids_file(args.ids_file) if args.ids_file else None
    report = convert_ccp(
        args.root, args.out, ids=ids, min_area=args.min_area, mapping=_mapping(args.mapping, "ccp"),
        val_fraction=args.val_fraction, progress=not args.quiet,
    )
    summary = report.as_dict()
    print(json.dumps({k: summary[k] for k in ("images", "splits", "instances", "small_components_dropped", "touching_pairs_split")}, indent=2))
    if report.skipped:
        print(f"skipped {len(report.skipped)} photo(s):", file=sys.stderr)
        for photo_id, reason in report.skipped[:20]:
            print(f"  {photo_id}: {reason}", file=sys.stderr)
    print(f"wrote {Path(args.out) / 'instances.json'}, garment.json and client.json")
    return 0


def cmd_convert_imaterialist(args) -> int:
    from fashionseg.convert.imaterialist import convert_imaterialist

    _output_file(args.out)
    summary = convert_imaterialist(args.train_csv, args.labels, args.out, _mapping(args.mapping, "imaterialist"), args.val_fraction, progress=not args.quiet)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_convert_fashionpedia(args) -> int:
    from fashionseg.convert.fashionpedia import convert_fashionpedia

    _output_file(args.out)
    summary = convert_fashionpedia(args.source, args.out, _mapping(args.mapping, "imaterialist"), args.val_fraction)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_store_import(args) -> int:
    from fashionseg.store import AnnotationStore, prepare_import, write_import

    # An existing store is opened first, so a taken name fails before the photos are read;
    # a new one is made only once the import has passed every check.
    exists = "://" in args.db or Path(args.db).expanduser().exists()
    store = AnnotationStore(args.db) if exists else None
    prepared = prepare_import(args.coco, args.images, args.name, origin=args.origin, author=args.author,
                              progress=not args.quiet, store=store)
    store = store or AnnotationStore(args.db)
    write_import(store, prepared)
    done, total = store.review_progress(args.name)
    print(f"imported {total} images into data set {args.name!r} of {store.location}")
    return 0


def cmd_store_export(args) -> int:
    from fashionseg.core.coco import write_coco
    from fashionseg.store import AnnotationStore, export_coco

    out = _output_file(args.out)
    write_coco(export_coco(AnnotationStore(args.db, create=False), args.name), out)
    print(f"wrote {args.out}")
    return 0


def cmd_store_list(args) -> int:
    from fashionseg.store import AnnotationStore

    store = AnnotationStore(args.db, create=False)
    names = store.datasets()
    if not names:
        print(f"{store.location}: no data sets")
    for name in names:
        done, total = store.review_progress(name)
        print(f"{name}: {total} images, {done} reviewed")
    return 0


def cmd_store_preannotate(args) -> int:
    from tqdm import tqdm

    from fashionseg.annotation.preannotation import preannotate
    from fashionseg.models.maskrcnn.predictor import InstanceSegmenter
    from fashionseg.store import AnnotationStore

    store = AnnotationStore(args.db, create=False)
    store.dataset_id(args.name)  # an unknown name fails before the model loads
    folder = _model_folder("maskrcnn", args.weights, "Mask R-CNN")
    if args.ray or args.ray_address:
        from fashionseg.evaluation.ray_batch import check_model, preannotate_ray, start_ray

        check_model(folder)  # before a cluster starts
        start_ray(args.ray_address, args.ray_cpus)
    else:
        segmenter = InstanceSegmenter.load(folder)
    bar = tqdm(unit="image", desc="pre-annotating", disable=args.quiet)

    def progress(done: int, total: int, _name: str) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    if args.ray or args.ray_address:
        report = preannotate_ray(store, args.name, folder, model_name=folder.name, overwrite=args.overwrite, limit=args.limit,
                                 write_batch=args.write_batch, on_progress=progress)
    else:
        report = preannotate(store, args.name, segmenter, model_name=folder.name, overwrite=args.overwrite, limit=args.limit,
                             on_progress=progress)
    bar.close()
    print(report.summary())
    for line in report.failed[:20]:
        print(f"  {line}", file=sys.stderr)
    return 0


def cmd_store_upgrade(args) -> int:
    from fashionseg.store import AnnotationStore
    from fashionseg.store.migrate import upgrade

    store = AnnotationStore(args.db, create=False, check_schema=False)
    with store.writing() as c:
        before, after = upgrade(c, store.location)
    print(f"{store.location}: schema {before} is the newest, nothing to do" if before == after
          else f"{store.location}: upgraded the schema from {before} to {after}")
    return 0


def _ray_options(parser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--ray", action="store_true", help="run the photos on a local Ray cluster (ONNX model, one worker per core)")
    group.add_argument("--ray-address", metavar="ADDRESS", help="run the photos on the Ray cluster at ADDRESS (e.g. 10.0.0.5:6379)")
    parser.add_argument("--ray-cpus", type=_count(1), help="cores of the local cluster (default: all)")


def _ray_predictions(args, weights: Path):
    """The ``predict_many`` of a command given --ray or --ray-address, else None."""
    if not (args.ray or args.ray_address):
        return None
    from fashionseg.evaluation.ray_batch import ray_predictions, start_ray

    predict_many = ray_predictions(weights)  # checks the folder before a cluster starts
    start_ray(args.ray_address, args.ray_cpus)
    return predict_many


def _garment_examples(args, split: str):
    from fashionseg.models.unet.data import examples_from_coco, examples_from_cutouts

    if args.cutouts:
        return examples_from_cutouts(args.cutouts[0], args.cutouts[1], split=split)
    if not args.garment or not args.images:
        raise UsageError("give --garment GARMENT.json --images DIR, or --cutouts PHOTOS_DIR CUTOUTS_DIR")
    return examples_from_coco(args.garment, args.images, split=split)


def cmd_train_unet(args) -> int:
    from fashionseg.exceptions import ModelNotTrainedError
    from fashionseg.models.unet.model import UNetConfig
    from fashionseg.models.unet.predictor import GarmentSegmenter
    from fashionseg.models.unet.train import TrainSettings, export_unet, train_unet

    encoder = args.encoder_weights
    if encoder is None:
        shared = pretrained_weights_dir() / "mobilenet_v2_imagenet_notop.weights.h5"
        encoder = str(shared) if shared.is_file() else "imagenet"
    first_pass = GarmentSegmenter.load(args.second_pass_of) if args.second_pass_of else None
    config = UNetConfig(
        architecture=args.architecture, input_size=args.input_size,
        encoder_weights=None if encoder == "none" or args.architecture == "classic" else encoder,
        double_pass_dilation=args.focus_dilation if first_pass else 0,
    )
    if args.architecture == "classic":
        config.mean, config.std = args.classic_mean_std[:3], args.classic_mean_std[3:]
    settings = TrainSettings(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                             patience=args.patience, augment=not args.no_augment, framing=not args.report_augmentation)
    init = Path(args.init_from) / "model.weights.h5" if args.init_from else None
    if init is not None and not init.is_file():
        raise ModelNotTrainedError(f"--init-from: no {init}")
    state = train_unet(config, settings, _garment_examples(args, "train"), _garment_examples(args, "val"), args.run, first_pass,
                       progress=not args.quiet, init_weights=init)
    print(f"best validation Dice {state['best_val_dice']:.4f} (epoch {state['best_epoch']}); "
          f"threshold {state['threshold']:.2f} gives mean full-resolution Dice {state['val_dice_at_threshold']:.4f}")
    if args.export:
        target = export_unet(args.run, args.export, second_pass=first_pass is not None)
        print(f"exported to {target}")
    return 0


def cmd_train_maskrcnn(args) -> int:
    from fashionseg.models.maskrcnn.config import MaskRCNNConfig
    from fashionseg.models.maskrcnn.data import examples_from_coco
    from fashionseg.models.maskrcnn.train import TrainSettings, train_maskrcnn

    weights = args.backbone_weights
    if weights is None and args.backbone == "mobilenet_v2":
        shared = pretrained_weights_dir() / "mobilenet_v2_imagenet_notop.weights.h5"
        weights = str(shared) if shared.is_file() else "imagenet"
    config = MaskRCNNConfig(BACKBONE=args.backbone, BACKBONE_WEIGHTS=None if weights in (None, "none") else weights)
    init_weights = None
    if args.init_from:
        init = Path(args.init_from)
        config, init_weights = MaskRCNNConfig.load(init / "config.json"), str(init / "model.weights.h5")
    settings = TrainSettings(heads_epochs=args.heads_epochs, all_epochs=args.all_epochs, steps_per_epoch=args.steps_per_epoch,
                             all_learning_rate=args.all_learning_rate, all_final_learning_rate=args.all_final_learning_rate,
                             framing=not args.thesis_augmentation, init_weights=init_weights, workers=args.workers)
    train = examples_from_coco(args.instances, args.images, split="train")
    val = examples_from_coco(args.instances, args.images, split="val")
    state = train_maskrcnn(config, settings, train, val, args.run, progress=not args.quiet)
    print(f"{state['epoch']} epochs done; best validation loss {state['best_val_loss']:.4f} (epoch {state['best_epoch']})")
    if args.export:
        from fashionseg.models.maskrcnn.export import export_run

        print(f"exported to {export_run(args.run, args.export)}")
    return 0


def _model_folder(kind: str, path: str | None, label: str) -> Path:
    """``--weights`` if given, else the default model of ``kind`` named in weights/defaults.json."""
    from fashionseg.models.model_folder import check_model_folder
    from fashionseg.exceptions import ModelNotTrainedError
    from fashionseg.settings import default_weights

    chosen = path or default_weights(kind)
    if chosen is None:
        raise ModelNotTrainedError(f"no --weights given and no default {label} in weights/defaults.json")
    check_model_folder(Path(chosen), label)  # before TensorFlow loads (seconds, and noise on stderr)
    return Path(chosen)


def _unet_weights(path: str | None, runtime: str | None = None):
    from fashionseg.models.unet.predictor import GarmentSegmenter

    folder = _model_folder("unet", path, "U-Net")
    return GarmentSegmenter.load(folder, runtime=runtime), folder


def cmd_evaluate_unet(args) -> int:
    from fashionseg.evaluation.registry import record_evaluation
    from fashionseg.models.unet.data import examples_from_coco
    from fashionseg.models.unet.evaluate import evaluate_unet

    out = _output_file(args.out)
    examples = examples_from_coco(args.test, args.images, split=args.split)
    segmenter, weights = _unet_weights(args.weights)
    metrics = evaluate_unet(segmenter, examples, double_pass=args.double_pass, progress=not args.quiet)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    log = weights / ("second_pass" if args.double_pass else "") / "training_log.csv"
    record = record_evaluation(
        "unet", args.run_name or weights.name + (" (double pass)" if args.double_pass else ""),
        {k: v for k, v in metrics.items() if k != "per_image"},
        config=json.loads(segmenter.config.to_json()), weights=project_relative(weights),
        data={"test": project_relative(args.test), "images": project_relative(args.images), "split": args.split or "all"},
        loss_log=project_relative(log) if log.is_file() else None,
    )
    print(f"mean Dice {metrics['dice_mean']:.4f}, median {metrics['dice_median']:.4f}, "
          f"outlier-corrected {metrics['dice_mean_outlier_corrected']:.4f} ({metrics['outliers_removed']} removed), "
          f"{metrics['inference_seconds'] * 1000:.0f} ms per photo; wrote {out} and {record}")
    return 0


def cmd_predict_unet(args) -> int:
    from PIL import Image

    photos = _photo_outputs(args.images, _output_folder(args.out))
    segmenter, _ = _unet_weights(args.weights)
    for source, base in photos:
        result = segmenter.predict(source, threshold=args.threshold, double_pass=args.double_pass)
        Image.fromarray(result.cutout, "RGBA").save(_beside(base, "_cutout.png"))
        Image.fromarray((result.mask * 255).astype("uint8")).save(_beside(base, "_mask.png"))
        stages = ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in result.timings.items())
        print(f"{source}: garment {result.mask.mean():.1%} of the photo, threshold {result.threshold:.2f}; {stages}")
    return 0


def cmd_bench_app(args) -> int:
    from fashionseg import settings
    from fashionseg.app.browser_bench import PARTS, run

    photo = Path(args.photo) if args.photo else settings.ccp_root() / "photos" / "0044.jpg"
    if not photo.is_file():
        raise UsageError(f"photo {photo} not found (give one with --photo)")
    app_dir = Path(args.app_dir).resolve() if args.app_dir else settings.PROJECT_ROOT
    for line in run(args.only or list(PARTS), args.repeat, photo, app_dir, annotate_images=2 * args.repeat + 2):
        print(line, flush=True)
    return 0


def cmd_bench_unet(args) -> int:
    from fashionseg.evaluation.benchmark import bench_unet

    _check_photos(args.images)
    segmenter, weights = _unet_weights(args.weights, args.runtime)
    photos = [Path(p) for p in args.images] if args.images else None
    print(bench_unet(segmenter, photos, repeat=args.repeat, warmup=args.warmup, double_pass=args.double_pass, name=weights.name))
    return 0


def _maskrcnn(path: str | None, runtime: str | None = None):
    from fashionseg.models.maskrcnn.predictor import InstanceSegmenter

    folder = _model_folder("maskrcnn", path, "Mask R-CNN")
    return InstanceSegmenter.load(folder, runtime=runtime), folder


def _predict_options(args) -> dict:
    options = {}
    if args.min_confidence is not None:
        options["min_confidence"] = args.min_confidence
    if args.max_instances is not None:
        options["max_instances"] = args.max_instances
    if args.max_per_class is not None:
        caps = dict(args.max_per_class)  # (class, n) pairs, checked by _class_cap
        if len(caps) < len(args.max_per_class):
            raise UsageError("--max-per-class names a class twice")
        options["max_per_class"] = caps
    if args.focus is not None:
        options["focus"] = args.focus
    return options


def cmd_evaluate_maskrcnn(args) -> int:
    from fashionseg.core.coco import write_coco
    from fashionseg.evaluation.registry import record_evaluation
    from fashionseg.models.maskrcnn.evaluate import evaluate_maskrcnn, load_coco, select_first

    out = _output_file(args.out)
    options = _predict_options(args)
    test = load_coco(args.test, args.split)
    if args.limit:
        test = select_first(test, args.limit)
    client = load_coco(args.client, args.client_split) if args.client else None
    segmenter, weights = _maskrcnn(args.weights, "onnx" if args.ray or args.ray_address else args.runtime)
    segmenter.check_options(**options)
    predict_many = _ray_predictions(args, weights)
    results, detections = evaluate_maskrcnn(segmenter, test, args.images, client, options, progress=not args.quiet,
                                            predict_many=predict_many)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    detections_path = out.with_name(out.stem + ".detections.json")
    write_coco({"images": test["images"], "annotations": [{**d, "id": k + 1} for k, d in enumerate(detections)],
                "categories": test["categories"]}, detections_path)
    log = weights / "training_log.csv"
    summary = {k: v for k, v in results.items() if k not in ("per_image", "per_class")}
    record = record_evaluation(
        "maskrcnn", args.run_name or weights.name, summary, config=segmenter.config.to_dict(), weights=project_relative(weights),
        data={"test": project_relative(args.test), "images": project_relative(args.images), "split": args.split or "all",
              "client": project_relative(args.client) if args.client else None, "client_split": args.client_split or "all",
              "metrics_file": project_relative(out), "detections_file": project_relative(detections_path)},
        per_class=results["per_class"], loss_log=project_relative(log) if log.is_file() else None,
    )
    t = results["test"]
    print(f"test ({t['images']} photos): EMR {t['exact_match_ratio']:.3f}, OA {t['overall_accuracy']:.3f}, Jaccard {t['jaccard']:.3f}, "
          f"classification {results['classification_score_test']:.3f}; mAP@50 {t['map50']:.3f}, F1 {t['f1']:.3f}, "
          f"COCO AP {t['coco_ap']:.3f} / AP50 {t['coco_ap50']:.3f}; {t['inference_seconds'] * 1000:.0f} ms per photo")
    if results["client"]:
        cl = results["client"]
        print(f"client ({cl['images']} photos): EMR {cl['exact_match_ratio']:.3f}, OA {cl['overall_accuracy']:.3f}, "
              f"Jaccard {cl['jaccard']:.3f}, classification {cl['classification_score']:.3f}")
    tto = "n/a (no --client)" if results["tto"] is None else f"{results['tto']:.3f}"
    print(f"segmentation {results['segmentation_score']:.3f}, speed {results['speed_score']:.4f}, TO {results['to']:.3f}, TTO {tto}")
    print(f"wrote {out}, {detections_path} and {record}")
    return 0


def cmd_predict_maskrcnn(args) -> int:
    from PIL import Image

    from fashionseg.core.coco import write_coco
    from fashionseg.core.images import load_image
    from fashionseg.core.overlay import draw_instances
    from fashionseg.core.vocabulary import FASHIONSEG11

    options = _predict_options(args)
    photos = _photo_outputs(args.images, _output_folder(args.out))
    segmenter, _ = _maskrcnn(args.weights, args.runtime)
    segmenter.check_options(**options)
    for source, base in photos:
        image = load_image(source)
        result = segmenter.predict(image, **options)
        overlay = draw_instances(image, [(i.class_name, i.score, i.box, i.mask) for i in result.instances])
        Image.fromarray(overlay).save(_beside(base, "_overlay.png"))
        write_coco({"images": [{"id": 1, "file_name": source.name, "height": result.height, "width": result.width}],
                    "annotations": result.to_coco_annotations(1), "categories": FASHIONSEG11.coco_categories()}, _beside(base, ".json"))
        found = ", ".join(f"{i.class_name} {i.score:.2f}" for i in result.instances) or "nothing"
        stages = ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in result.timings.items())
        print(f"{source}: {found}; {stages}")
    return 0


def cmd_bench_store(args) -> int:
    from fashionseg.evaluation.ray_batch import bench_store_writes

    print(bench_store_writes(args.db, images=args.images, batch=args.batch, instances=args.instances, repeat=args.repeat))
    return 0


def cmd_bench_preannotation(args) -> int:
    from fashionseg.evaluation.ray_batch import bench_preannotation, start_ray
    from fashionseg.evaluation.benchmark import default_photos

    photos = [Path(p) for p in args.photos] if args.photos else default_photos(args.count)
    _check_photos([str(p) for p in photos])
    folder = _model_folder("maskrcnn", args.weights, "Mask R-CNN")
    print(bench_preannotation(folder, photos, repeat=args.repeat))
    if args.ray or args.ray_address:
        start_ray(args.ray_address, args.ray_cpus)
        print(bench_preannotation(folder, photos, repeat=args.repeat, use_ray=True))
    return 0


def cmd_bench_maskrcnn(args) -> int:
    from fashionseg.evaluation.benchmark import bench_maskrcnn
    from fashionseg.exceptions import ModelNotTrainedError

    _check_photos(args.images)
    segmenters = {}
    for name in args.runtime or ["keras", "onnx"]:
        try:
            segmenters[name], _ = _maskrcnn(args.weights, name)
        except ModelNotTrainedError as exc:
            if not args.runtime and name == "onnx":  # no ONNX export: benchmark Keras alone, and say so
                print(f"{name}: skipped ({exc})")
            else:
                raise
    photos = [Path(p) for p in args.images] if args.images else None
    print(bench_maskrcnn(segmenters, photos, repeat=args.repeat, warmup=args.warmup))
    return 0


def cmd_export_maskrcnn(args) -> int:
    from fashionseg.models.maskrcnn.export import export_onnx, export_run

    if args.run:
        print(f"exported {export_run(args.run, args.weights, which=args.which, min_confidence=args.detection_min_confidence)}")
    if not args.no_onnx:
        print(f"wrote {export_onnx(args.weights)}")
    return 0


def cmd_export_unet(args) -> int:
    from fashionseg.models.unet.predictor import export_onnx

    for path in export_onnx(_model_folder("unet", args.weights, "U-Net")):
        print(f"wrote {path}")
    return 0


def cmd_thresholds_maskrcnn(args) -> int:
    from fashionseg.models.maskrcnn.config import MaskRCNNConfig
    from fashionseg.models.maskrcnn.evaluate import load_coco
    from fashionseg.models.maskrcnn.thresholds import tune_class_thresholds

    segmenter, weights = _maskrcnn(args.weights, args.runtime)
    test = load_coco(args.test, args.split)
    result = tune_class_thresholds(segmenter, test, args.images, progress=not args.quiet, min_images=args.min_images)
    print(f"classification score on {len(test['images'])} photos: {result['before']:.4f} with {result['default_threshold']} "
          f"for every class, {result['after']:.4f} with these per-class thresholds:")
    for name, threshold in result["thresholds"].items():
        print(f"  {name:<28} {threshold:.2f}  ({result['true_images'][name]} true photos)")
    if args.write:
        config = MaskRCNNConfig.load(weights / "config.json")
        config.DETECTION_MIN_CONFIDENCE_PER_CLASS = result["thresholds"]
        config.save(weights / "config.json")
        print(f"wrote them into {weights / 'config.json'}")
    return 0


def cmd_robustness(args) -> int:
    from fashionseg.evaluation.registry import record_evaluation
    from fashionseg.models.maskrcnn.evaluate import load_coco, select_first
    from fashionseg.evaluation.robustness import format_table, run_robustness, variants_named, write_result

    variants = variants_named(args.variants)  # an unknown name fails before a model loads
    if (args.ray or args.ray_address) and args.kind != "maskrcnn":
        raise UsageError("--ray and --ray-address run the Mask R-CNN's robustness; the U-Net's runs in one process")
    if args.kind == "maskrcnn":
        model, weights = _maskrcnn(args.weights, "onnx" if args.ray or args.ray_address else args.runtime)
        options = _predict_options(args)
        model.check_options(**options)
    else:
        model, weights = _unet_weights(args.weights, args.runtime)
        options = None
    test = load_coco(args.test, args.split)
    if args.limit:
        test = select_first(test, args.limit)
    work = Path(args.work) if args.work else Path(args.out).with_suffix("")
    result = run_robustness(args.kind, model, test, args.images, work, variants, seed=args.seed, min_area=args.min_area,
                            predict_options=options, progress=not args.quiet, predict_many=_ray_predictions(args, weights))
    result.update(model=project_relative(weights), test=project_relative(args.test), split=args.split or "all")
    write_result(result, args.out)
    record = record_evaluation(
        "robustness", args.run_name or weights.name, {"variants": result["variants"]},
        config={"model_kind": args.kind, "seed": args.seed, "min_area": args.min_area, "predict_options": options or {}},
        weights=project_relative(weights),
        data={"test": project_relative(args.test), "images": project_relative(args.images), "split": args.split or "all",
              "photos": result["images"], "variants_dir": project_relative(work), "result_file": project_relative(args.out),
              "descriptions": result["descriptions"]},
    )
    print(format_table(result))
    print(f"wrote {args.out} and registry record {record.name}")
    return 0


def cmd_vocab(args) -> int:
    from fashionseg.core.vocabulary import load_vocabulary

    for c in load_vocabulary(args.name).categories:
        print(f"{c.id:>3}  {c.name}" + (f"  ({c.supercategory})" if c.supercategory else ""))
    return 0


def cmd_mapping(args) -> int:
    from fashionseg.core.mapping import load_mapping

    mapping = load_mapping(args.name)
    width = max(len(k) for k in mapping.rules) if mapping.rules else 0
    for label, classes in mapping.rules.items():
        print(f"{label:<{width}}  -> {' + '.join(classes) if classes else '(dropped)'}")
    return 0


def _add_predict_options(parser) -> None:
    parser.add_argument("--min-confidence", type=_fraction, help="drop detections below this score (default: the model's per-class thresholds, else its DETECTION_MIN_CONFIDENCE)")
    parser.add_argument("--max-instances", type=_count(1), help="at most this many instances per photo (default: the model's, 10)")
    parser.add_argument("--max-per-class", nargs="*", type=_class_cap, metavar="CLASS=N", help="per-class caps (default: the model's, shoe=2)")
    parser.add_argument("--focus", action=argparse.BooleanOptionalAction, default=None,
                        help="second pass on a crop around small people (default: the model's DETECTION_FOCUS)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fashionseg", description="Fashion classification and segmentation tools.")
    parser.add_argument("--version", action="version", version=f"fashionseg {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    convert = commands.add_parser("convert", help="convert a data set to FashionSeg COCO files").add_subparsers(dest="format", required=True)
    ccp = convert.add_parser("ccp", help="Clothing Co-Parsing -> instances.json, garment.json, client.json")
    ccp.add_argument("root", help="CCP folder (photos/, annotations/pixel-level/, annotations/image-level/, label_list.mat)")
    ccp.add_argument("--out", required=True, help="output folder")
    ccp.add_argument("--ids-file", help="only these photo ids (one integer per line)")
    ccp.add_argument("--min-area", type=_count(0), default=100, help="drop connected components under this many pixels (default 100)")
    ccp.add_argument("--mapping", help="CCP label mapping YAML/JSON (default: the built-in fashionseg/data/mappings/ccp.yaml)")
    ccp.add_argument("--val-fraction", type=_fraction, default=0.2, help="share of photos in the validation split (default 0.2)")
    ccp.add_argument("--quiet", action="store_true", help="no progress bar")
    ccp.set_defaults(func=cmd_convert_ccp)

    imat = convert.add_parser("imaterialist", help="iMaterialist (Fashion) 2019 Kaggle train.csv -> COCO")
    imat.add_argument("train_csv")
    imat.add_argument("--labels", required=True, help="label_descriptions.json")
    imat.add_argument("--out", required=True, help="output COCO JSON file")
    imat.add_argument("--mapping", help="mapping YAML/JSON (default: built-in imaterialist)")
    imat.add_argument("--val-fraction", type=_fraction, default=0.2)
    imat.add_argument("--quiet", action="store_true")
    imat.set_defaults(func=cmd_convert_imaterialist)

    fp = convert.add_parser("fashionpedia", help="Fashionpedia COCO JSON -> COCO in the 11 classes")
    fp.add_argument("source")
    fp.add_argument("--out", required=True)
    fp.add_argument("--mapping", help="mapping YAML/JSON (default: built-in imaterialist)")
    fp.add_argument("--val-fraction", type=_fraction, default=0.2)
    fp.set_defaults(func=cmd_convert_fashionpedia)

    store = commands.add_parser("store", help="the annotation store").add_subparsers(dest="store_command", required=True)
    imp = store.add_parser("import", help="import a COCO file and its image folder as a new data set")
    imp.add_argument("coco")
    imp.add_argument("--images", required=True, help="folder the COCO file_name values are relative to")
    imp.add_argument("--name", required=True, help="data set name")
    imp.add_argument("--origin", default="ground_truth", choices=["ground_truth", "model", "annotator"])
    imp.add_argument("--author", default="import")
    imp.add_argument("--db", default=DEFAULT_STORE, help="store file or database URL (postgresql://USER:PASSWORD@HOST/DB), made if missing "
                     "(default data/fashionseg.db, or $FASHIONSEG_STORE)")
    imp.add_argument("--quiet", action="store_true")
    imp.set_defaults(func=cmd_store_import)
    exp = store.add_parser("export", help="export a data set as COCO JSON")
    exp.add_argument("name")
    exp.add_argument("--out", required=True)
    exp.add_argument("--db", default=DEFAULT_STORE)
    exp.set_defaults(func=cmd_store_export)
    pre = store.add_parser("preannotate", help="save the Mask R-CNN's instances as unreviewed annotations, one change per image")
    pre.add_argument("name")
    pre.add_argument("--weights", help="model folder (default: weights/defaults.json)")
    pre.add_argument("--overwrite", action="store_true", help="replace annotations of images nobody reviewed yet")
    pre.add_argument("--limit", type=_count(1), help="at most this many images")
    pre.add_argument("--db", default=DEFAULT_STORE)
    _ray_options(pre)
    pre.add_argument("--write-batch", type=_count(1), default=64, help="with Ray: images saved per store transaction (default 64)")
    pre.add_argument("--quiet", action="store_true")
    pre.set_defaults(func=cmd_store_preannotate)
    upg = store.add_parser("upgrade", help="bring the store's schema to this FashionSeg's (back it up first)")
    upg.add_argument("--db", default=DEFAULT_STORE)
    upg.set_defaults(func=cmd_store_upgrade)
    lst = store.add_parser("list", help="list data sets and review progress")
    lst.add_argument("--db", default=DEFAULT_STORE)
    lst.set_defaults(func=cmd_store_list)

    train = commands.add_parser("train", help="train a model").add_subparsers(dest="model", required=True)
    unet = train.add_parser("unet", help="train the garment-cutout U-Net (resumes if --run has a run)")
    unet.add_argument("--garment", help="garment.json from 'fashionseg convert ccp' (uses its train/val split)")
    unet.add_argument("--images", help="folder the garment.json file names are relative to")
    unet.add_argument("--cutouts", nargs=2, metavar=("PHOTOS_DIR", "CUTOUTS_DIR"), help="the report's format: photos and RGBA cutouts with the same names")
    unet.add_argument("--run", required=True, help="run folder (checkpoints, log, state)")
    unet.add_argument("--architecture", default="mobilenet_v2", choices=["mobilenet_v2", "classic"])
    unet.add_argument("--input-size", type=int, default=320, help="square model input, 256-1024, a multiple of 32 (default 320)")
    unet.add_argument("--encoder-weights", help="MobileNetV2 weights file, 'imagenet' or 'none' (default: ../shared/weights notop file)")
    unet.add_argument("--classic-mean-std", type=float, nargs=6, default=[123.7, 116.8, 103.9, 58.4, 57.1, 57.4], metavar="V",
                      help="classic U-Net input mean (3) and std (3) on 0-255")
    unet.add_argument("--epochs", type=int, default=30)
    unet.add_argument("--batch-size", type=int, default=8)
    unet.add_argument("--learning-rate", type=float, default=3e-4)
    unet.add_argument("--patience", type=int, default=6, help="early stopping: epochs without a better validation Dice")
    unet.add_argument("--no-augment", action="store_true", help="no augmentation at all")
    unet.add_argument("--report-augmentation", action="store_true",
                      help="only the report's flip and mild colour changes instead of re-framing + copy-paste + photometric")
    unet.add_argument("--second-pass-of", metavar="WEIGHTS_DIR", help="train the double-pass model for this first-pass model")
    unet.add_argument("--focus-dilation", type=int, default=25, help="double pass: px kept around the first mask (default 25)")
    unet.add_argument("--init-from", metavar="WEIGHTS_DIR", help="start from this trained model's weights (same architecture) instead of ImageNet")
    unet.add_argument("--export", metavar="WEIGHTS_DIR", help="when done, export the best model here")
    unet.add_argument("--quiet", action="store_true")
    unet.set_defaults(func=cmd_train_unet)

    mr = train.add_parser("maskrcnn", help="train the Mask R-CNN: heads, then all layers (resumes if --run has a run)")
    mr.add_argument("--instances", required=True, help="instances.json from 'fashionseg convert ccp' (uses its train/val split)")
    mr.add_argument("--images", required=True, help="folder the instances.json file names are relative to")
    mr.add_argument("--run", required=True, help="run folder (checkpoints, log, state)")
    mr.add_argument("--backbone", default="mobilenet_v2", choices=["mobilenet_v2", "resnet50", "resnet101"])
    mr.add_argument("--backbone-weights", help="weights file, 'imagenet' or 'none' (default for mobilenet_v2: the ../shared/weights notop file)")
    mr.add_argument("--heads-epochs", type=int, default=8, help="epochs of the heads stage (default 8)")
    mr.add_argument("--all-epochs", type=int, default=16, help="epochs of the all-layers stage (default 16)")
    mr.add_argument("--steps-per-epoch", type=int, help="steps per epoch (default: one pass over the training photos)")
    mr.add_argument("--all-learning-rate", type=float, default=0.004, help="all-layers stage: first learning rate (default 0.004)")
    mr.add_argument("--all-final-learning-rate", type=float, default=0.0004, help="all-layers stage: last learning rate (default 0.0004)")
    mr.add_argument("--thesis-augmentation", action="store_true",
                    help="only the thesis' augmentation (flip, brightness, blur/noise) instead of re-framing + copy-paste + photometric")
    mr.add_argument("--init-from", metavar="WEIGHTS_DIR", help="start from this trained model (its config) instead of ImageNet; "
                    "with --heads-epochs 0 this fine-tunes it")
    mr.add_argument("--workers", type=int, default=1,
                    help="processes preparing augmented batches (default 1; use several where a GPU waits for data)")
    mr.add_argument("--export", metavar="WEIGHTS_DIR", help="when done, export the best model here")
    mr.add_argument("--quiet", action="store_true")
    mr.set_defaults(func=cmd_train_maskrcnn)

    evaluate = commands.add_parser("evaluate", help="evaluate a trained model").add_subparsers(dest="model", required=True)
    ev = evaluate.add_parser("unet", help="Dice of a U-Net on garment masks; writes METRICS.json and a registry record")
    ev.add_argument("--weights", help="model folder (default: weights/defaults.json)")
    ev.add_argument("--test", required=True, help="garment.json from 'fashionseg convert ccp'")
    ev.add_argument("--images", required=True, help="the photos folder")
    ev.add_argument("--split", choices=["train", "val"], help="only this split of the file (default: every image in it)")
    ev.add_argument("--double-pass", action="store_true")
    ev.add_argument("--run-name", help="name in the experiments registry (default: the weights folder)")
    ev.add_argument("--out", required=True, help="METRICS.json")
    ev.add_argument("--quiet", action="store_true")
    ev.set_defaults(func=cmd_evaluate_unet)

    em = evaluate.add_parser("maskrcnn", help="thesis metrics of a Mask R-CNN; writes METRICS.json, detections and a registry record")
    em.add_argument("--weights", help="model folder (default: weights/defaults.json)")
    em.add_argument("--test", required=True, help="instances.json from 'fashionseg convert ccp'")
    em.add_argument("--images", required=True, help="the photos folder")
    em.add_argument("--client", help="client.json (image-level labels) from 'fashionseg convert ccp'")
    em.add_argument("--split", choices=["train", "val"], help="only this split of --test (default: every image in it)")
    em.add_argument("--client-split", choices=["train", "val"], help="only this split of --client (default: every image in it)")
    em.add_argument("--runtime", choices=["keras", "onnx"], help="default: ONNX when exported, else Keras")
    em.add_argument("--limit", type=_count(1), help="only the first N test photos (a quick look, not a result)")
    em.add_argument("--run-name", help="name in the experiments registry (default: the weights folder)")
    em.add_argument("--out", required=True, help="METRICS.json")
    _add_predict_options(em)
    _ray_options(em)
    em.add_argument("--quiet", action="store_true")
    em.set_defaults(func=cmd_evaluate_maskrcnn)

    predict = commands.add_parser("predict", help="run a trained model on photos").add_subparsers(dest="model", required=True)
    pu = predict.add_parser("unet", help="garment cutouts: writes NAME_cutout.png (RGBA) and NAME_mask.png (sub/NAME_* for photos in subfolders)")
    pu.add_argument("images", nargs="+")
    pu.add_argument("--weights", help="model folder (default: weights/defaults.json)")
    pu.add_argument("--out", required=True)
    pu.add_argument("--threshold", type=_fraction, help="override the model's threshold (0 to 1)")
    pu.add_argument("--double-pass", action="store_true")
    pu.set_defaults(func=cmd_predict_unet)

    pm = predict.add_parser("maskrcnn", help="instances: writes NAME_overlay.png and NAME.json (COCO, RLE masks; sub/NAME* for photos in subfolders)")
    pm.add_argument("images", nargs="+")
    pm.add_argument("--weights", help="model folder (default: weights/defaults.json)")
    pm.add_argument("--out", required=True)
    pm.add_argument("--runtime", choices=["keras", "onnx"], help="default: ONNX when exported, else Keras")
    _add_predict_options(pm)
    pm.set_defaults(func=cmd_predict_maskrcnn)

    bench = commands.add_parser("bench", help="latency benchmark: median and spread, per stage, peak memory").add_subparsers(dest="model", required=True)
    bu = bench.add_parser("unet", help="photo file -> full-resolution cutout")
    bu.add_argument("images", nargs="*", help="photos (default: 10 CCP photos)")
    bu.add_argument("--weights", help="model folder (default: weights/defaults.json)")
    bu.add_argument("--repeat", type=_count(1), default=5, help="passes over the photos (default 5)")
    bu.add_argument("--warmup", type=_count(0), default=3)
    bu.add_argument("--double-pass", action="store_true")
    bu.add_argument("--runtime", choices=["keras", "onnx"], help="default: ONNX when exported, else Keras")
    bu.set_defaults(func=cmd_bench_unet)

    bm = bench.add_parser("maskrcnn", help="photo file -> full-resolution masks, per runtime")
    bm.add_argument("images", nargs="*", help="photos (default: 10 CCP photos)")
    bm.add_argument("--weights", help="model folder (default: weights/defaults.json)")
    bm.add_argument("--runtime", action="append", choices=["keras", "onnx"], help="runtimes to compare (default: both)")
    bm.add_argument("--repeat", type=_count(1), default=5, help="passes over the photos (default 5)")
    bm.add_argument("--warmup", type=_count(0), default=3)
    bm.set_defaults(func=cmd_bench_maskrcnn)
    bs = bench.add_parser("store", help="the store's write rate: images saved per second, as pre-annotation writes them")
    bs.add_argument("--db", required=True, help="store file or database URL; a throwaway data set 'bench-...' is written into it")
    bs.add_argument("--images", type=_count(1), default=256, help="images per run (default 256)")
    bs.add_argument("--batch", type=_count(1), default=64, help="images per transaction (default 64, as preannotate --ray)")
    bs.add_argument("--instances", type=_count(0), default=4, help="model masks per image (default 4)")
    bs.add_argument("--repeat", type=_count(1), default=3)
    bs.set_defaults(func=cmd_bench_store)
    bp = bench.add_parser("preannotation", help="photos per second, photo file -> instances: one process, and with --ray on Ray")
    bp.add_argument("photos", nargs="*", help="photo files (default: --count CCP photos)")
    bp.add_argument("--count", type=_count(1), default=40, help="CCP photos when none are given (default 40)")
    bp.add_argument("--weights", help="model folder (default: weights/defaults.json)")
    bp.add_argument("--repeat", type=_count(1), default=3)
    _ray_options(bp)
    bp.set_defaults(func=cmd_bench_preannotation)

    ba = bench.add_parser("app", help="the app in headless Chromium: first visit, Segment redraws, Annotate accept, Errors dialog")
    ba.add_argument("--only", action="append", choices=["first-visit", "segment", "annotate", "errors"],
                    help="parts to run (repeatable; default: all)")
    ba.add_argument("--repeat", type=_count(1), default=5, help="times each interaction is measured (default 5)")
    ba.add_argument("--photo", help="photo the Segment figures are made from (default: CCP's 0044.jpg)")
    ba.add_argument("--app-dir", help="another checkout's folder to run the app from (before/after comparisons)")
    ba.set_defaults(func=cmd_bench_app)

    export = commands.add_parser("export", help="export a trained model").add_subparsers(dest="model", required=True)
    xm = export.add_parser("maskrcnn", help="a run's weights into a weights folder, and/or that folder's model to ONNX")
    xm.add_argument("weights", help="weights folder (written from --run if given)")
    xm.add_argument("--run", help="training run folder to export from")
    xm.add_argument("--which", choices=["best", "last"], default="best", help="best (lowest validation loss) or last epoch")
    xm.add_argument("--detection-min-confidence", type=_fraction, help="the exported model's default confidence threshold (default: the run's)")
    xm.add_argument("--no-onnx", action="store_true", help="do not write model.onnx")
    xm.set_defaults(func=cmd_export_maskrcnn)
    xu = export.add_parser("unet", help="a trained U-Net (and its second pass) to ONNX: model.onnx beside the weights")
    xu.add_argument("--weights", help="model folder (default: weights/defaults.json)")
    xu.set_defaults(func=cmd_export_unet)

    thresholds = commands.add_parser("thresholds", help="choose per-class confidence thresholds").add_subparsers(dest="model", required=True)
    tm = thresholds.add_parser("maskrcnn", help="per-class thresholds that maximise the classification score on validation photos")
    tm.add_argument("--weights", help="model folder (default: weights/defaults.json)")
    tm.add_argument("--test", required=True, help="instances.json with the validation photos")
    tm.add_argument("--images", required=True, help="the photos folder")
    tm.add_argument("--split", choices=["train", "val"], default="val", help="split of --test to tune on (default val)")
    tm.add_argument("--runtime", choices=["keras", "onnx"], help="default: ONNX when exported, else Keras")
    tm.add_argument("--min-images", type=int, default=10, help="classes in fewer photos keep the global threshold (default 10)")
    tm.add_argument("--write", action="store_true", help="store the thresholds in the model's config.json")
    tm.add_argument("--quiet", action="store_true")
    tm.set_defaults(func=cmd_thresholds_maskrcnn)

    rb = commands.add_parser("robustness", help="a model's metrics on re-framed, re-lit, re-compressed variants of a test set")
    rb.add_argument("kind", choices=["maskrcnn", "unet"])
    rb.add_argument("--test", required=True, help="COCO file with masks: instances.json (maskrcnn) or garment.json (unet)")
    rb.add_argument("--images", required=True, help="folder the test file names are relative to")
    rb.add_argument("--split", choices=["train", "val"], help="only this split of --test (default: every image in it)")
    rb.add_argument("--weights", help="model folder (default: weights/defaults.json)")
    rb.add_argument("--runtime", choices=["keras", "onnx"], help="default: ONNX when exported, else Keras")
    rb.add_argument("--variants", nargs="+", metavar="NAME", help="only these variants (default: all; see fashionseg.evaluation.robustness)")
    rb.add_argument("--seed", type=int, default=0, help="seed of the variants' random choices (default 0)")
    rb.add_argument("--min-area", type=int, default=100, help="drop instances left with fewer pixels in a variant (default 100)")
    rb.add_argument("--limit", type=int, help="only the first N test photos (a quick look, not a result)")
    rb.add_argument("--work", help="folder for the variant photos and COCO files (default: --out without its suffix)")
    rb.add_argument("--run-name", help="name in the experiments registry (default: the weights folder)")
    rb.add_argument("--out", required=True, help="result JSON")
    _add_predict_options(rb)
    _ray_options(rb)
    rb.add_argument("--quiet", action="store_true")
    rb.set_defaults(func=cmd_robustness)

    vocab = commands.add_parser("vocab", help="print a class vocabulary")
    vocab.add_argument("name", nargs="?", default="fashionseg11", choices=["fashionseg11", "base5", "imaterialist46", "ccp59"])
    vocab.set_defaults(func=cmd_vocab)
    mapping = commands.add_parser("mapping", help="print a label mapping")
    mapping.add_argument("name", help="ccp, imaterialist, client, or a YAML/JSON file")
    mapping.set_defaults(func=cmd_mapping)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a bad argument (already reported)
        return exc.code if isinstance(exc.code, int) else 2 if exc.code else 0
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
