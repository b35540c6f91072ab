"""``fashionseg thresholds maskrcnn``: per-class confidence thresholds chosen on validation photos."""

from __future__ import annotations

from fashionseg.cli import common
from fashionseg.cli.options import add_runtime, add_split, add_weights


def cmd_thresholds_maskrcnn(args) -> int:
    from fashionseg.models.maskrcnn.config import MaskRCNNConfig
    from fashionseg.models.maskrcnn.evaluate import load_coco
    from fashionseg.models.maskrcnn.thresholds import tune_class_thresholds

    segmenter, weights = common.load_maskrcnn(args.weights, args.runtime)
    test = load_coco(args.test, args.split)
    result = tune_class_thresholds(segmenter, test, args.images, progress=not args.quiet, min_images=args.min_images)
    print(
        f"classification score on {len(test['images'])} photos: {result['before']:.4f} with {result['default_threshold']} "
        f"for every class, {result['after']:.4f} with these per-class thresholds:"
    )
    for name, threshold in result["thresholds"].items():
        print(f"  {name:<28} {threshold:.2f}  ({result['true_images'][name]} true photos)")
    print(
        f"on photos they were not chosen on (two-fold, 10 random halvings) such thresholds add "
        f"{result['held_out_gain']:+.4f} (sd {result['held_out_spread']:.4f})"
    )
    if args.write:
        config = MaskRCNNConfig.load(weights / "config.json")
        config.DETECTION_MIN_CONFIDENCE_PER_CLASS = result["thresholds"]
        config.save(weights / "config.json")
        print(f"wrote them into {weights / 'config.json'}")
    return 0


def register(commands) -> None:
    thresholds = commands.add_parser("thresholds", help="choose per-class confidence thresholds").add_subparsers(
        dest="model", required=True
    )
    tm = thresholds.add_parser(
        "maskrcnn", help="per-class thresholds that maximise the classification score on validation photos"
    )
    add_weights(tm, "maskrcnn")
    tm.add_argument("--test", required=True, help="instances.json with the validation photos")
    tm.add_argument("--images", required=True, help="the photos folder")
    add_split(tm, default="val", help="split of --test to tune on (default val)")
    add_runtime(tm)
    tm.add_argument(
        "--min-images", type=int, default=10, help="classes in fewer photos keep the global threshold (default 10)"
    )
    tm.add_argument("--write", action="store_true", help="store the thresholds in the model's config.json")
    tm.set_defaults(func=cmd_thresholds_maskrcnn)
