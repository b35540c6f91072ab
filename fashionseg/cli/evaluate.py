"""``fashionseg evaluate unet|maskrcnn``: a trained model's metrics, written to a file and the experiments registry."""

from __future__ import annotations

import json

from fashionseg.cli import common
from fashionseg.cli.options import (
    add_limit,
    add_predict_options,
    add_ray,
    add_run_name,
    add_runtime,
    add_split,
    add_weights,
    output_file,
)
from fashionseg.settings import project_relative


def cmd_evaluate_unet(args) -> int:
    from fashionseg.evaluation.registry import record_evaluation
    from fashionseg.models.unet.data import examples_from_coco
    from fashionseg.models.unet.evaluate import evaluate_unet

    out = output_file(args.out)
    examples = examples_from_coco(args.test, args.images, split=args.split)
    segmenter, weights = common.load_unet(args.weights, "onnx" if common.uses_ray(args) else None)
    metrics = evaluate_unet(
        segmenter,
        examples,
        double_pass=args.double_pass,
        progress=not args.quiet,
        predict_many=common.ray_predictions(args, weights, "unet"),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    log = weights / ("second_pass" if args.double_pass else "") / "training_log.csv"
    record = record_evaluation(
        "unet",
        args.run_name or weights.name + (" (double pass)" if args.double_pass else ""),
        {k: v for k, v in metrics.items() if k != "per_image"},
        config=json.loads(segmenter.config.to_json()),
        weights=project_relative(weights),
        data={
            "test": project_relative(args.test),
            "images": project_relative(args.images),
            "split": args.split or "all",
        },
        loss_log=project_relative(log) if log.is_file() else None,
    )
    print(
        f"mean Dice {metrics['dice_mean']:.4f}, median {metrics['dice_median']:.4f}, "
        f"outlier-corrected {metrics['dice_mean_outlier_corrected']:.4f} ({metrics['outliers_removed']} removed), "
        f"{metrics['inference_seconds'] * 1000:.0f} ms per photo; wrote {out} and {record}"
    )
    return 0


def cmd_evaluate_maskrcnn(args) -> int:
    from fashionseg.core.coco import write_coco
    from fashionseg.evaluation.registry import record_evaluation
    from fashionseg.models.maskrcnn.evaluate import evaluate_maskrcnn, load_coco, select_first

    out = output_file(args.out)
    options = common.predict_options(args)
    test = load_coco(args.test, args.split)
    if args.limit:
        test = select_first(test, args.limit)
    client = load_coco(args.client, args.client_split) if args.client else None
    segmenter, weights = common.load_maskrcnn(args.weights, "onnx" if common.uses_ray(args) else args.runtime)
    segmenter.check_options(**options)
    predict_many = common.ray_predictions(args, weights)
    results, detections = evaluate_maskrcnn(
        segmenter, test, args.images, client, options, progress=not args.quiet, predict_many=predict_many
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    detections_path = out.with_name(out.stem + ".detections.json")
    write_coco(
        {
            "images": test["images"],
            "annotations": [{**d, "id": k + 1} for k, d in enumerate(detections)],
            "categories": test["categories"],
        },
        detections_path,
    )
    log = weights / "training_log.csv"
    summary = {k: v for k, v in results.items() if k not in ("per_image", "per_class")}
    record = record_evaluation(
        "maskrcnn",
        args.run_name or weights.name,
        summary,
        config=segmenter.config.to_dict(),
        weights=project_relative(weights),
        data={
            "test": project_relative(args.test),
            "images": project_relative(args.images),
            "split": args.split or "all",
            "client": project_relative(args.client) if args.client else None,
            "client_split": args.client_split or "all",
            "metrics_file": project_relative(out),
            "detections_file": project_relative(detections_path),
        },
        per_class=results["per_class"],
        loss_log=project_relative(log) if log.is_file() else None,
    )
    t = results["test"]
    print(
        f"test ({t['images']} photos): EMR {t['exact_match_ratio']:.3f}, OA {t['overall_accuracy']:.3f}, Jaccard {t['jaccard']:.3f}, "
        f"classification {results['classification_score_test']:.3f}; mAP@50 {t['map50']:.3f}, F1 {t['f1']:.3f}, "
        f"COCO AP {t['coco_ap']:.3f} / AP50 {t['coco_ap50']:.3f}; {t['inference_seconds'] * 1000:.0f} ms per photo"
    )
    if results["client"]:
        cl = results["client"]
        print(
            f"client ({cl['images']} photos): EMR {cl['exact_match_ratio']:.3f}, OA {cl['overall_accuracy']:.3f}, "
            f"Jaccard {cl['jaccard']:.3f}, classification {cl['classification_score']:.3f}"
        )
    tto = "n/a (no --client)" if results["tto"] is None else f"{results['tto']:.3f}"
    print(
        f"segmentation {results['segmentation_score']:.3f}, speed {results['speed_score']:.4f}, TO {results['to']:.3f}, TTO {tto}"
    )
    print(f"wrote {out}, {detections_path} and {record}")
    return 0


def register(commands) -> None:
    evaluate = commands.add_parser("evaluate", help="evaluate a trained model").add_subparsers(
        dest="model", required=True
    )
    ev = evaluate.add_parser("unet", help="Dice of a U-Net on garment masks; writes METRICS.json and a registry record")
    add_weights(ev, "unet")
    ev.add_argument("--test", required=True, help="garment.json from 'fashionseg convert ccp'")
    ev.add_argument("--images", required=True, help="the photos folder")
    add_split(ev, help="only this split of the file (default: every image in it)")
    ev.add_argument("--double-pass", action="store_true")
    add_run_name(ev)
    add_ray(ev)
    ev.add_argument("--out", required=True, help="METRICS.json")
    ev.set_defaults(func=cmd_evaluate_unet)

    em = evaluate.add_parser(
        "maskrcnn", help="thesis metrics of a Mask R-CNN; writes METRICS.json, detections and a registry record"
    )
    add_weights(em, "maskrcnn")
    em.add_argument("--test", required=True, help="instances.json from 'fashionseg convert ccp'")
    em.add_argument("--images", required=True, help="the photos folder")
    em.add_argument("--client", help="client.json (image-level labels) from 'fashionseg convert ccp'")
    add_split(em)
    add_split(em, "--client-split", of="--client")
    add_runtime(em)
    add_limit(em)
    add_run_name(em)
    em.add_argument("--out", required=True, help="METRICS.json")
    add_predict_options(em)
    add_ray(em)
    em.set_defaults(func=cmd_evaluate_maskrcnn)
