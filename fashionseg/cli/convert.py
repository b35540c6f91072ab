"""``fashionseg convert ccp|imaterialist|fashionpedia``: a data set to FashionSeg COCO files."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from fashionseg.cli import common
from fashionseg.cli.options import count, fraction, output_file, output_folder

log = logging.getLogger(__name__)


def cmd_convert_ccp(args) -> int:
    from fashionseg.convert.ccp import convert_ccp, read_ids_file

    output_folder(args.out)
    ids = read_ids_file(args.ids_file) if args.ids_file else None
    report = convert_ccp(
        args.root,
        args.out,
        ids=ids,
        min_area=args.min_area,
        mapping=common.mapping(args.mapping, "ccp"),
        val_fraction=args.val_fraction,
        progress=not args.quiet,
    )
    summary = report.as_dict()
    print(
        json.dumps(
            {
                k: summary[k]
                for k in ("images", "splits", "instances", "small_components_dropped", "touching_pairs_split")
            },
            indent=2,
        )
    )
    if report.skipped:
        log.warning(
            "skipped %d photo(s):\n%s",
            len(report.skipped),
            "\n".join(f"  {photo_id}: {reason}" for photo_id, reason in report.skipped[:20]),
        )
    print(f"wrote {Path(args.out) / 'instances.json'}, garment.json and client.json")
    return 0


def cmd_convert_imaterialist(args) -> int:
    from fashionseg.convert.imaterialist import convert_imaterialist

    output_file(args.out)
    summary = convert_imaterialist(
        args.train_csv,
        args.labels,
        args.out,
        common.mapping(args.mapping, "imaterialist"),
        args.val_fraction,
        progress=not args.quiet,
    )
    print(json.dumps(summary, indent=2))
    return 0


def cmd_convert_fashionpedia(args) -> int:
    from fashionseg.convert.fashionpedia import convert_fashionpedia

    output_file(args.out)
    summary = convert_fashionpedia(
        args.source, args.out, common.mapping(args.mapping, "imaterialist"), args.val_fraction
    )
    print(json.dumps(summary, indent=2))
    return 0


def register(commands) -> None:
    convert = commands.add_parser("convert", help="convert a data set to FashionSeg COCO files").add_subparsers(
        dest="format", required=True
    )
    ccp = convert.add_parser("ccp", help="Clothing Co-Parsing -> instances.json, garment.json, client.json")
    ccp.add_argument(
        "root", help="CCP folder (photos/, annotations/pixel-level/, annotations/image-level/, label_list.mat)"
    )
    ccp.add_argument("--out", required=True, help="output folder")
    ccp.add_argument("--ids-file", help="only these photo ids (one integer per line)")
    ccp.add_argument(
        "--min-area", type=count(0), default=100, help="drop connected components under this many pixels (default 100)"
    )
    ccp.add_argument(
        "--mapping", help="CCP label mapping YAML/JSON (default: the built-in fashionseg/data/mappings/ccp.yaml)"
    )
    ccp.add_argument(
        "--val-fraction", type=fraction, default=0.2, help="share of photos in the validation split (default 0.2)"
    )
    ccp.set_defaults(func=cmd_convert_ccp)

    imat = convert.add_parser("imaterialist", help="iMaterialist (Fashion) 2019 Kaggle train.csv -> COCO")
    imat.add_argument("train_csv")
    imat.add_argument("--labels", required=True, help="label_descriptions.json")
    imat.add_argument("--out", required=True, help="output COCO JSON file")
    imat.add_argument("--mapping", help="mapping YAML/JSON (default: built-in imaterialist)")
    imat.add_argument("--val-fraction", type=fraction, default=0.2)
    imat.set_defaults(func=cmd_convert_imaterialist)

    fp = convert.add_parser("fashionpedia", help="Fashionpedia COCO JSON -> COCO in the 11 classes")
    fp.add_argument("source")
    fp.add_argument("--out", required=True)
    fp.add_argument("--mapping", help="mapping YAML/JSON (default: built-in imaterialist)")
    fp.add_argument("--val-fraction", type=fraction, default=0.2)
    fp.set_defaults(func=cmd_convert_fashionpedia)
