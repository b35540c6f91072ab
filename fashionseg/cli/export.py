"""``fashionseg export maskrcnn|unet``: a trained model into a weights folder and to ONNX."""

from __future__ import annotations

import argparse
import logging

from fashionseg.cli import common
from fashionseg.cli.options import add_weights, default_model_note, fraction
from fashionseg.exceptions import UsageError

log = logging.getLogger(__name__)


def cmd_export_maskrcnn(args) -> int:
    from fashionseg.models.maskrcnn.export import export_onnx, export_run

    weights = args.weights
    if args.old_weights is not None:  # the positional form before --weights: still accepted, with a warning
        if weights is not None and weights != args.old_weights:
            raise UsageError(f"two weights folders given: {args.old_weights} and --weights {weights}")
        log.warning(
            "'fashionseg export maskrcnn WEIGHTS' is deprecated; write 'fashionseg export maskrcnn --weights WEIGHTS'"
        )
        weights = args.old_weights
    if args.run:
        if weights is None:
            raise UsageError("--run: give --weights DIR, the folder to export the run into")
        print(
            f"exported {export_run(args.run, weights, which=args.which, min_confidence=args.detection_min_confidence)}"
        )
    if not args.no_onnx:
        print(f"wrote {export_onnx(common.model_folder('maskrcnn', weights))}")
    return 0


def cmd_export_unet(args) -> int:
    from fashionseg.models.unet.export import export_onnx

    for path in export_onnx(common.model_folder("unet", args.weights)):
        print(f"wrote {path}")
    return 0


def register(commands) -> None:
    export = commands.add_parser("export", help="export a trained model").add_subparsers(dest="model", required=True)
    xm = export.add_parser("maskrcnn", help="a run's weights into a weights folder, and/or that folder's model to ONNX")
    xm.add_argument("old_weights", nargs="?", metavar="WEIGHTS", help=argparse.SUPPRESS)  # deprecated: --weights
    add_weights(
        xm,
        "maskrcnn",
        help="model folder: written from --run when given (then required), else the one to export to "
        f"ONNX ({default_model_note('maskrcnn')})",
    )
    xm.add_argument("--run", help="training run folder to export from")
    xm.add_argument(
        "--which", choices=["best", "last"], default="best", help="best (lowest validation loss) or last epoch"
    )
    xm.add_argument(
        "--detection-min-confidence",
        type=fraction,
        help="with --run: the exported model's default confidence threshold (default: the run's)",
    )
    xm.add_argument("--no-onnx", action="store_true", help="do not write model.onnx")
    xm.set_defaults(func=cmd_export_maskrcnn)

    xu = export.add_parser("unet", help="a trained U-Net (and its second pass) to ONNX: model.onnx beside the weights")
    add_weights(xu, "unet")
    xu.set_defaults(func=cmd_export_unet)
