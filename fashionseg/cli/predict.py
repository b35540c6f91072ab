"""``fashionseg predict unet|maskrcnn``: run a trained model on photos, results beside each photo's name under --out."""

from __future__ import annotations

from fashionseg.cli import common
from fashionseg.cli.options import add_predict_options, add_runtime, add_weights, fraction, output_folder


def cmd_predict_unet(args) -> int:
    from PIL import Image

    photos = common.photo_outputs(args.images, output_folder(args.out))
    segmenter, _ = common.load_unet(args.weights)
    for source, base in photos:
        result = segmenter.predict(source, threshold=args.threshold, double_pass=args.double_pass)
        Image.fromarray(result.cutout, "RGBA").save(common.beside(base, "_cutout.png"))
        Image.fromarray((result.mask * 255).astype("uint8")).save(common.beside(base, "_mask.png"))
        stages = ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in result.timings.items())
        print(f"{source}: garment {result.mask.mean():.1%} of the photo, threshold {result.threshold:.2f}; {stages}")
    return 0


def cmd_predict_maskrcnn(args) -> int:
    from PIL import Image

    from fashionseg.core.coco import write_coco
    from fashionseg.core.images import load_image
    from fashionseg.core.overlay import draw_instances
    from fashionseg.core.vocabulary import FASHIONSEG11

    options = common.predict_options(args)
    photos = common.photo_outputs(args.images, output_folder(args.out))
    segmenter, _ = common.load_maskrcnn(args.weights, args.runtime)
    segmenter.check_options(**options)
    for source, base in photos:
        image = load_image(source)
        result = segmenter.predict(image, **options)
        overlay = draw_instances(image, [(i.class_name, i.score, i.box, i.mask) for i in result.instances])
        Image.fromarray(overlay).save(common.beside(base, "_overlay.png"))
        write_coco(
            {
                "images": [{"id": 1, "file_name": source.name, "height": result.height, "width": result.width}],
                "annotations": result.to_coco_annotations(1),
                "categories": FASHIONSEG11.coco_categories(),
            },
            common.beside(base, ".json"),
        )
        found = ", ".join(f"{i.class_name} {i.score:.2f}" for i in result.instances) or "nothing"
        stages = ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in result.timings.items())
        print(f"{source}: {found}; {stages}")
    return 0


def register(commands) -> None:
    predict = commands.add_parser("predict", help="run a trained model on photos").add_subparsers(
        dest="model", required=True
    )
    pu = predict.add_parser(
        "unet",
        help="garment cutouts: writes NAME_cutout.png (RGBA) and NAME_mask.png (sub/NAME_* for photos in subfolders)",
    )
    pu.add_argument("images", nargs="+")
    add_weights(pu, "unet")
    pu.add_argument("--out", required=True)
    pu.add_argument("--threshold", type=fraction, help="override the model's threshold (0 to 1)")
    pu.add_argument("--double-pass", action="store_true")
    pu.set_defaults(func=cmd_predict_unet)

    pm = predict.add_parser(
        "maskrcnn",
        help="instances: writes NAME_overlay.png and NAME.json (COCO, RLE masks; sub/NAME* for photos in subfolders)",
    )
    pm.add_argument("images", nargs="+")
    add_weights(pm, "maskrcnn")
    pm.add_argument("--out", required=True)
    add_runtime(pm)
    add_predict_options(pm)
    pm.set_defaults(func=cmd_predict_maskrcnn)
