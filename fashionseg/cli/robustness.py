"""``fashionseg robustness maskrcnn|unet``: a model's metrics on re-framed, re-lit, re-compressed variants of a test set."""

from __future__ import annotations

from pathlib import Path

from fashionseg.cli import common
from fashionseg.cli.options import (
    MODEL_LABELS,
    add_limit,
    add_predict_options,
    add_ray,
    add_run_name,
    add_runtime,
    add_split,
    add_weights,
)
from fashionseg.settings import project_relative


def cmd_robustness(args) -> int:
    from fashionseg.core.variants import variants_named
    from fashionseg.evaluation.registry import record_evaluation
    from fashionseg.evaluation.robustness import format_table, run_robustness, write_result
    from fashionseg.models.maskrcnn.evaluate import load_coco, select_first

    variants = variants_named(args.variants)  # an unknown name fails before a model loads
    if args.kind == "maskrcnn":
        model, weights = common.load_maskrcnn(args.weights, "onnx" if common.uses_ray(args) else args.runtime)
        options = common.predict_options(args)
        model.check_options(**options)
    else:
        model, weights = common.load_unet(args.weights, "onnx" if common.uses_ray(args) else args.runtime)
        options = None
    test = load_coco(args.test, args.split)
    if args.limit:
        test = select_first(test, args.limit)
    work = Path(args.work) if args.work else Path(args.out).with_suffix("")
    result = run_robustness(
        args.kind,
        model,
        test,
        args.images,
        work,
        variants,
        seed=args.seed,
        min_area=args.min_area,
        predict_options=options,
        progress=not args.quiet,
        predict_many=common.ray_predictions(args, weights, args.kind),
    )
    result.update(model=project_relative(weights), test=project_relative(args.test), split=args.split or "all")
    write_result(result, args.out)
    record = record_evaluation(
        "robustness",
        args.run_name or weights.name,
        {"variants": result["variants"]},
        config={
            "model_kind": args.kind,
            "seed": args.seed,
            "min_area": args.min_area,
            "predict_options": options or {},
        },
        weights=project_relative(weights),
        data={
            "test": project_relative(args.test),
            "images": project_relative(args.images),
            "split": args.split or "all",
            "photos": result["images"],
            "variants_dir": project_relative(work),
            "result_file": project_relative(args.out),
            "descriptions": result["descriptions"],
        },
    )
    print(format_table(result))
    print(f"wrote {args.out} and registry record {record.name}")
    return 0


def register(commands) -> None:
    rb = commands.add_parser(
        "robustness", help="a model's metrics on re-framed, re-lit, re-compressed variants of a test set"
    )
    rb.add_argument("kind", choices=list(MODEL_LABELS))
    rb.add_argument(
        "--test", required=True, help="COCO file with masks: instances.json (maskrcnn) or garment.json (unet)"
    )
    rb.add_argument("--images", required=True, help="folder the test file names are relative to")
    add_split(rb)
    add_weights(
        rb, "maskrcnn", help="model folder of the kind given (default: the one weights/defaults.json names for it)"
    )
    add_runtime(rb)
    rb.add_argument(
        "--variants",
        nargs="+",
        metavar="NAME",
        help="only these variants (default: all; names in fashionseg.core.variants and the README)",
    )
    rb.add_argument("--seed", type=int, default=0, help="seed of the variants' random choices (default 0)")
    rb.add_argument(
        "--min-area", type=int, default=100, help="drop instances left with fewer pixels in a variant (default 100)"
    )
    add_limit(rb)
    rb.add_argument("--work", help="folder for the variant photos and COCO files (default: --out without its suffix)")
    add_run_name(rb)
    rb.add_argument("--out", required=True, help="result JSON")
    add_predict_options(rb)
    add_ray(rb)
    rb.set_defaults(func=cmd_robustness)
