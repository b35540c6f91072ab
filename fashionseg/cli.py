"""The ``fashionseg`` command line (also ``python -m fashionseg``).

Run ``fashionseg --help`` or ``fashionseg COMMAND --help`` for usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fashionseg import __version__
from fashionseg.settings import store_path

DEFAULT_STORE = str(store_path())


def _known_errors() -> tuple[type[Exception], ...]:
    from fashionseg.coco import CocoFormatError
    from fashionseg.convert.ccp import CCPFormatError
    from fashionseg.convert.imaterialist import IMaterialistFormatError
    from fashionseg.images import ImageLoadError
    from fashionseg.mapping import MappingError
    from fashionseg.store import ConflictError, StoreError

    return (CocoFormatError, CCPFormatError, IMaterialistFormatError, ImageLoadError, MappingError, ConflictError, StoreError, FileNotFoundError)


def _mapping(path: str | None, default: str):
    from fashionseg.mapping import load_mapping

    return load_mapping(path or default)


def cmd_convert_ccp(args) -> int:
    from fashionseg.convert.ccp import convert_ccp, read_ids_file

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

    summary = convert_imaterialist(args.train_csv, args.labels, args.out, _mapping(args.mapping, "imaterialist"), args.val_fraction, progress=not args.quiet)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_convert_fashionpedia(args) -> int:
    from fashionseg.convert.fashionpedia import convert_fashionpedia

    summary = convert_fashionpedia(args.source, args.out, _mapping(args.mapping, "imaterialist"), args.val_fraction)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_store_import(args) -> int:
    from fashionseg.store import AnnotationStore, import_coco

    store = AnnotationStore(args.db)
    import_coco(store, args.coco, args.images, args.name, origin=args.origin, author=args.author, progress=not args.quiet)
    done, total = store.review_progress(args.name)
    print(f"imported {total} images into data set {args.name!r} of {args.db}")
    return 0


def cmd_store_export(args) -> int:
    from fashionseg.coco import write_coco
    from fashionseg.store import AnnotationStore, export_coco

    write_coco(export_coco(AnnotationStore(args.db), args.name), args.out)
    print(f"wrote {args.out}")
    return 0


def cmd_store_list(args) -> int:
    from fashionseg.store import AnnotationStore

    store = AnnotationStore(args.db)
    names = store.datasets()
    if not names:
        print(f"{args.db}: no data sets")
    for name in names:
        done, total = store.review_progress(name)
        print(f"{name}: {total} images, {done} reviewed")
    return 0


def cmd_vocab(args) -> int:
    from fashionseg.vocabulary import load_vocabulary

    for c in load_vocabulary(args.name).categories:
        print(f"{c.id:>3}  {c.name}" + (f"  ({c.supercategory})" if c.supercategory else ""))
    return 0


def cmd_mapping(args) -> int:
    from fashionseg.mapping import load_mapping

    mapping = load_mapping(args.name)
    width = max(len(k) for k in mapping.rules) if mapping.rules else 0
    for label, classes in mapping.rules.items():
        print(f"{label:<{width}}  -> {' + '.join(classes) if classes else '(dropped)'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fashionseg", description="Fashion classification and segmentation tools.")
    parser.add_argument("--version", action="version", version=f"fashionseg {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    convert = commands.add_parser("convert", help="convert a data set to FashionSeg COCO files").add_subparsers(dest="format", required=True)
    ccp = convert.add_parser("ccp", help="Clothing Co-Parsing -> instances.json, garment.json, client.json")
    ccp.add_argument("root", help="CCP folder (photos/, annotations/pixel-level/, annotations/image-level/, label_list.mat)")
    ccp.add_argument("--out", required=True, help="output folder")
    ccp.add_argument("--ids-file", help="only these photo ids (one integer per line)")
    ccp.add_argument("--min-area", type=int, default=100, help="drop connected components under this many pixels (default 100)")
    ccp.add_argument("--mapping", help="CCP label mapping YAML/JSON (default: the built-in fashionseg/data/mappings/ccp.yaml)")
    ccp.add_argument("--val-fraction", type=float, default=0.2, help="share of photos in the validation split (default 0.2)")
    ccp.add_argument("--quiet", action="store_true", help="no progress bar")
    ccp.set_defaults(func=cmd_convert_ccp)

    imat = convert.add_parser("imaterialist", help="iMaterialist (Fashion) 2019 Kaggle train.csv -> COCO")
    imat.add_argument("train_csv")
    imat.add_argument("--labels", required=True, help="label_descriptions.json")
    imat.add_argument("--out", required=True, help="output COCO JSON file")
    imat.add_argument("--mapping", help="mapping YAML/JSON (default: built-in imaterialist)")
    imat.add_argument("--val-fraction", type=float, default=0.2)
    imat.add_argument("--quiet", action="store_true")
    imat.set_defaults(func=cmd_convert_imaterialist)

    fp = convert.add_parser("fashionpedia", help="Fashionpedia COCO JSON -> COCO in the 11 classes")
    fp.add_argument("source")
    fp.add_argument("--out", required=True)
    fp.add_argument("--mapping", help="mapping YAML/JSON (default: built-in imaterialist)")
    fp.add_argument("--val-fraction", type=float, default=0.2)
    fp.set_defaults(func=cmd_convert_fashionpedia)

    store = commands.add_parser("store", help="the annotation store").add_subparsers(dest="store_command", required=True)
    imp = store.add_parser("import", help="import a COCO file and its image folder as a new data set")
    imp.add_argument("coco")
    imp.add_argument("--images", required=True, help="folder the COCO file_name values are relative to")
    imp.add_argument("--name", required=True, help="data set name")
    imp.add_argument("--origin", default="ground_truth", choices=["ground_truth", "model", "annotator"])
    imp.add_argument("--author", default="import")
    imp.add_argument("--db", default=DEFAULT_STORE, help=f"store file or SQLAlchemy URL (default {DEFAULT_STORE}, or $FASHIONSEG_STORE)")
    imp.add_argument("--quiet", action="store_true")
    imp.set_defaults(func=cmd_store_import)
    exp = store.add_parser("export", help="export a data set as COCO JSON")
    exp.add_argument("name")
    exp.add_argument("--out", required=True)
    exp.add_argument("--db", default=DEFAULT_STORE)
    exp.set_defaults(func=cmd_store_export)
    lst = store.add_parser("list", help="list data sets and review progress")
    lst.add_argument("--db", default=DEFAULT_STORE)
    lst.set_defaults(func=cmd_store_list)

    vocab = commands.add_parser("vocab", help="print a class vocabulary")
    vocab.add_argument("name", nargs="?", default="fashionseg11", choices=["fashionseg11", "base5", "imaterialist46", "ccp59"])
    vocab.set_defaults(func=cmd_vocab)
    mapping = commands.add_parser("mapping", help="print a label mapping")
    mapping.add_argument("name", help="ccp, imaterialist, client, or a YAML/JSON file")
    mapping.set_defaults(func=cmd_mapping)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except _known_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
