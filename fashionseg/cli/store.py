"""``fashionseg store import|export|preannotate|upgrade|list``: the annotation store."""

from __future__ import annotations

import logging
from pathlib import Path

from fashionseg.cli import common
from fashionseg.cli.options import add_db, add_ray, add_weights, count, output_file

log = logging.getLogger(__name__)


def cmd_store_import(args) -> int:
    from fashionseg.store import AnnotationStore, prepare_import, write_import

    # An existing store is opened first, so a taken name fails before the photos are read;
    # a new one is made only once the import has passed every check.
    exists = "://" in args.db or Path(args.db).expanduser().exists()
    store = AnnotationStore(args.db) if exists else None
    prepared = prepare_import(
        args.coco, args.images, args.name, origin=args.origin, author=args.author, progress=not args.quiet, store=store
    )
    store = store or AnnotationStore(args.db)
    write_import(store, prepared)
    _, total = store.review_progress(args.name)
    print(f"imported {total} images into data set {args.name!r} of {store.location}")
    return 0


def cmd_store_export(args) -> int:
    from fashionseg.annotation.review import reviewed_only
    from fashionseg.core.coco import write_coco
    from fashionseg.store import AnnotationStore, export_coco

    out = output_file(args.out)
    document = export_coco(AnnotationStore(args.db, create=False), args.name)
    if args.reviewed_only:
        document = reviewed_only(document)
    write_coco(document, out)
    print(f"wrote {args.out} ({len(document['images'])} images, {len(document['annotations'])} annotations)")
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
    folder = common.model_folder("maskrcnn", args.weights)
    if common.uses_ray(args):
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

    if common.uses_ray(args):
        report = preannotate_ray(
            store,
            args.name,
            folder,
            model_name=folder.name,
            overwrite=args.overwrite,
            limit=args.limit,
            write_batch=args.write_batch,
            on_progress=progress,
        )
    else:
        report = preannotate(
            store,
            args.name,
            segmenter,
            model_name=folder.name,
            overwrite=args.overwrite,
            limit=args.limit,
            on_progress=progress,
        )
    bar.close()
    print(report.summary())
    for line in report.failed[:20]:
        log.warning("could not read %s", line)
    return 0


def cmd_store_upgrade(args) -> int:
    from fashionseg.store import AnnotationStore
    from fashionseg.store.migrate import upgrade

    store = AnnotationStore(args.db, create=False, check_schema=False)
    with store.writing() as c:
        before, after = upgrade(c, store.location)
    print(
        f"{store.location}: schema {before} is the newest, nothing to do"
        if before == after
        else f"{store.location}: upgraded the schema from {before} to {after}"
    )
    return 0


def register(commands) -> None:
    store = commands.add_parser("store", help="the annotation store").add_subparsers(
        dest="store_command", required=True
    )
    imp = store.add_parser("import", help="import a COCO file and its image folder as a new data set")
    imp.add_argument("coco")
    imp.add_argument("--images", required=True, help="folder the COCO file_name values are relative to")
    imp.add_argument("--name", required=True, help="data set name")
    imp.add_argument("--origin", default="ground_truth", choices=["ground_truth", "model", "annotator"])
    imp.add_argument("--author", default="import")
    add_db(imp)
    imp.set_defaults(func=cmd_store_import)

    exp = store.add_parser("export", help="export a data set as COCO JSON")
    exp.add_argument("name")
    exp.add_argument("--out", required=True)
    exp.add_argument(
        "--reviewed-only",
        action="store_true",
        help="only the images an annotator marked reviewed, with their annotations and labels (default: every image)",
    )
    add_db(exp)
    exp.set_defaults(func=cmd_store_export)

    pre = store.add_parser(
        "preannotate", help="save the Mask R-CNN's instances as unreviewed annotations, one change per image"
    )
    pre.add_argument("name")
    add_weights(pre, "maskrcnn")
    pre.add_argument("--overwrite", action="store_true", help="replace annotations of images nobody reviewed yet")
    pre.add_argument("--limit", type=count(1), help="at most this many images")
    add_db(pre)
    add_ray(pre)
    pre.add_argument(
        "--write-batch", type=count(1), default=64, help="with Ray: images saved per store transaction (default 64)"
    )
    pre.set_defaults(func=cmd_store_preannotate)

    upg = store.add_parser("upgrade", help="bring the store's schema to this FashionSeg's (back it up first)")
    add_db(upg)
    upg.set_defaults(func=cmd_store_upgrade)

    lst = store.add_parser("list", help="list data sets and review progress")
    add_db(lst)
    lst.set_defaults(func=cmd_store_list)
