"""``fashionseg bench unet|maskrcnn|store|preannotation|app``: latency and throughput benchmarks."""

from __future__ import annotations

from pathlib import Path

from fashionseg.cli import common
from fashionseg.cli.options import RUNTIMES, add_ray, add_runtime, add_weights, count
from fashionseg.exceptions import UsageError


def cmd_bench_unet(args) -> int:
    from fashionseg.evaluation.benchmark import bench_unet

    common.check_photos(args.images)
    segmenter, weights = common.load_unet(args.weights, args.runtime)
    photos = [Path(p) for p in args.images] if args.images else None
    print(
        bench_unet(
            segmenter, photos, repeat=args.repeat, warmup=args.warmup, double_pass=args.double_pass, name=weights.name
        )
    )
    return 0


def cmd_bench_maskrcnn(args) -> int:
    from fashionseg.evaluation.benchmark import bench_maskrcnn
    from fashionseg.exceptions import ModelNotTrainedError

    common.check_photos(args.images)
    segmenters = {}
    for name in args.runtime or list(RUNTIMES):
        try:
            segmenters[name], _ = common.load_maskrcnn(args.weights, name)
        except ModelNotTrainedError as exc:
            if not args.runtime and name == "onnx":  # no ONNX export: benchmark Keras alone, and say so
                print(f"{name}: skipped ({exc})")
            else:
                raise
    photos = [Path(p) for p in args.images] if args.images else None
    print(bench_maskrcnn(segmenters, photos, repeat=args.repeat, warmup=args.warmup))
    return 0


def cmd_bench_store(args) -> int:
    from fashionseg.evaluation.ray_batch import bench_store_writes

    print(
        bench_store_writes(args.db, images=args.images, batch=args.batch, instances=args.instances, repeat=args.repeat)
    )
    return 0


def cmd_bench_preannotation(args) -> int:
    from fashionseg.evaluation.benchmark import default_photos
    from fashionseg.evaluation.ray_batch import bench_preannotation, start_ray

    photos = [Path(p) for p in args.photos] if args.photos else default_photos(args.count)
    common.check_photos([str(p) for p in photos])
    folder = common.model_folder("maskrcnn", args.weights)
    print(bench_preannotation(folder, photos, repeat=args.repeat))
    if common.uses_ray(args):
        start_ray(args.ray_address, args.ray_cpus)
        print(bench_preannotation(folder, photos, repeat=args.repeat, use_ray=True))
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


def _add_passes(parser) -> None:
    """The model benchmarks' passes: measured ones, and warm-up ones before them."""
    parser.add_argument("--repeat", type=count(1), default=5, help="passes over the photos (default 5)")
    parser.add_argument("--warmup", type=count(0), default=3)


def register(commands) -> None:
    bench = commands.add_parser(
        "bench", help="latency benchmark: median and spread, per stage, peak memory"
    ).add_subparsers(dest="model", required=True)
    bu = bench.add_parser("unet", help="photo file -> full-resolution cutout")
    bu.add_argument("images", nargs="*", help="photos (default: 10 CCP photos)")
    add_weights(bu, "unet")
    _add_passes(bu)
    bu.add_argument("--double-pass", action="store_true")
    add_runtime(bu)
    bu.set_defaults(func=cmd_bench_unet)

    bm = bench.add_parser("maskrcnn", help="photo file -> full-resolution masks, per runtime")
    bm.add_argument("images", nargs="*", help="photos (default: 10 CCP photos)")
    add_weights(bm, "maskrcnn")
    bm.add_argument(
        "--runtime", action="append", choices=RUNTIMES, help="runtimes to compare (repeatable; default: both)"
    )
    _add_passes(bm)
    bm.set_defaults(func=cmd_bench_maskrcnn)

    bs = bench.add_parser(
        "store", help="the store's write rate: images saved per second, as pre-annotation writes them"
    )
    bs.add_argument(
        "--db", required=True, help="store file or database URL; a throwaway data set 'bench-...' is written into it"
    )
    bs.add_argument("--images", type=count(1), default=256, help="images per run (default 256)")
    bs.add_argument(
        "--batch", type=count(1), default=64, help="images per transaction (default 64, as preannotate --ray)"
    )
    bs.add_argument("--instances", type=count(0), default=4, help="model masks per image (default 4)")
    bs.add_argument("--repeat", type=count(1), default=3)
    bs.set_defaults(func=cmd_bench_store)

    bp = bench.add_parser(
        "preannotation", help="photos per second, photo file -> instances: one process, and with --ray on Ray"
    )
    bp.add_argument("photos", nargs="*", help="photo files (default: --count CCP photos)")
    bp.add_argument("--count", type=count(1), default=40, help="CCP photos when none are given (default 40)")
    add_weights(bp, "maskrcnn")
    bp.add_argument("--repeat", type=count(1), default=3)
    add_ray(bp)
    bp.set_defaults(func=cmd_bench_preannotation)

    ba = bench.add_parser(
        "app", help="the app in headless Chromium: first visit, Segment redraws, Annotate accept, Errors dialog"
    )
    ba.add_argument(
        "--only",
        action="append",
        choices=["first-visit", "segment", "annotate", "errors"],
        help="parts to run (repeatable; default: all)",
    )
    ba.add_argument("--repeat", type=count(1), default=5, help="times each interaction is measured (default 5)")
    ba.add_argument("--photo", help="photo the Segment figures are made from (default: CCP's 0044.jpg)")
    ba.add_argument("--app-dir", help="another checkout's folder to run the app from (before/after comparisons)")
    ba.set_defaults(func=cmd_bench_app)
