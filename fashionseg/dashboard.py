"""Tables behind the Experiments page: our recorded runs, the thesis' reference runs, per-class results, losses.

Every combined score (classification, segmentation, speed, TO, TTO) is
computed here from the recorded raw metrics with :mod:`fashionseg.metrics`,
for our runs and for the thesis' rows alike, so the two are scored by one
formula. The thesis' rows are its own numbers (Tables 8-10, Appendix E),
measured on its iMaterialist test set and client photos: reference, not a
comparison on the same data.

Example:
    >>> reference = reference_runs()
    >>> row = reference.set_index("run").loc["Full4"]
    >>> round(float(row["TTO"]), 2), float(row["TTO (printed)"]), row["source"]
    (1.85, 1.85, 'thesis (reference)')
"""

from __future__ import annotations

import csv
from collections import Counter
from functools import cache
from importlib import resources
from pathlib import Path

import pandas as pd
import yaml

from fashionseg import metrics
from fashionseg.settings import project_path
from fashionseg.vocabulary import FASHIONSEG11

OURS = "ours"
REFERENCE = "thesis (reference)"
LOSS_COMPONENTS = ("loss", "rpn_class_loss", "rpn_bbox_loss", "mrcnn_class_loss", "mrcnn_bbox_loss", "mrcnn_mask_loss")

# Columns in the order the page shows them.
RUN_COLUMNS = [
    "source", "run", "backbone", "input size", "data", "images", "seconds",
    "EMR", "OA", "JSS", "mAP@50", "F1", "COCO AP", "client EMR", "client OA", "client JSS",
    "Class_C", "Class_M", "Segmentation", "Speed", "TO", "TTO", "TTO (printed)", "evaluated", "record",
]


def _scores(test: dict, client: dict | None, seconds: float) -> dict:
    class_m = metrics.classification_score(test["emr"], test["oa"], test["jss"])
    class_c = metrics.classification_score(client["emr"], client["oa"], client["jss"]) if client else None
    segmentation = metrics.segmentation_score(test["map50"], test["f1"])
    speed = metrics.speed_score(seconds)
    to = metrics.trade_off(class_m, segmentation, speed)
    return {
        "Class_C": class_c, "Class_M": class_m, "Segmentation": segmentation, "Speed": speed, "TO": to,
        "TTO": None if class_c is None else metrics.total_trade_off(class_c, to),
    }


def our_runs(records: list[dict]) -> pd.DataFrame:
    """One row per Mask R-CNN evaluation record."""
    rows = []
    for record in records:
        if record.get("kind") != "maskrcnn":
            continue
        m, config, data = record.get("metrics", {}), record.get("config", {}), record.get("data", {})
        test = m.get("test", {})
        if "exact_match_ratio" not in test:
            continue  # a record from before the thesis metrics were kept
        raw = {"emr": test["exact_match_ratio"], "oa": test["overall_accuracy"], "jss": test["jaccard"], "map50": test["map50"], "f1": test["f1"]}
        client_m = m.get("client")
        client = {"emr": client_m["exact_match_ratio"], "oa": client_m["overall_accuracy"], "jss": client_m["jaccard"]} if client_m else None
        described = f"{Path(str(data.get('test', '?'))).name} [{data.get('split') or 'all'}]"
        if data.get("client"):
            described += f" + client {Path(str(data['client'])).name}"
        rows.append({
            "source": OURS, "run": record.get("run", "?"), "backbone": config.get("BACKBONE", "?"), "input size": config.get("IMAGE_MAX_DIM"),
            "data": described, "images": test.get("images"), "seconds": test["inference_seconds"],
            "EMR": raw["emr"], "OA": raw["oa"], "JSS": raw["jss"], "mAP@50": raw["map50"], "F1": raw["f1"], "COCO AP": test.get("coco_ap"),
            "client EMR": client and client["emr"], "client OA": client and client["oa"], "client JSS": client and client["jss"],
            **_scores(raw, client, test["inference_seconds"]),
            "evaluated": record.get("evaluated_at"), "record": record.get("path"),
        })
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


@cache
def _thesis() -> dict:
    text = resources.files("fashionseg").joinpath("data/thesis_results.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def reference_runs() -> pd.DataFrame:
    """The thesis' Base1-Full4 (Tables 8-10), scored with our formulas from its printed metrics."""
    rows = []
    for name, run in _thesis()["runs"].items():
        test, client = run["test"], run["client"]
        rows.append({
            "source": REFERENCE, "run": name, "backbone": run["backbone"], "input size": run["input_size"],
            "data": f"iMaterialist test + {run['classes']} classes; 460 client photos", "images": None, "seconds": test["seconds"],
            "EMR": test["emr"], "OA": test["oa"], "JSS": test["jss"], "mAP@50": test["map50"], "F1": test["f1"], "COCO AP": None,
            "client EMR": client["emr"], "client OA": client["oa"], "client JSS": client["jss"],
            **_scores(test, client, test["seconds"]), "TTO (printed)": run["scores"]["tto"], "evaluated": None, "record": _thesis()["source"],
        })
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def printed_scores() -> pd.DataFrame:
    """The thesis' Table 10 as printed (rounded), to check our recomputation against.

    Every printed score follows from Tables 8-9 within rounding except Base2's
    TTO: printed 1.75, while 1.5 x 0.53 + 0.44 + 0.56 - 0.14 = 1.65.
    """
    return pd.DataFrame([{"run": name, **run["scores"]} for name, run in _thesis()["runs"].items()])


def per_class(record: dict) -> pd.DataFrame:
    """Per class: accuracy, true and predicted images (test and, where measured, client), COCO AP50."""
    rows = []
    for name in FASHIONSEG11.names:
        result = record.get("per_class", {}).get(name)
        if result is None:
            continue
        rows.append({
            "class": name, "accuracy": result.get("accuracy"), "true": result.get("true_images"), "predicted": result.get("predicted_images"),
            "true instances": result.get("true_instances"), "predicted instances": result.get("predicted_instances"),
            "client accuracy": result.get("client_accuracy"), "COCO AP50": result.get("coco_ap50"),
        })
    return pd.DataFrame(rows)


def reference_per_class(dataset: str = "test") -> pd.DataFrame:
    """The thesis' final model per class (Appendix E): ``dataset`` 'test' (iMaterialist) or 'client'."""
    table = _thesis()["per_class_full4"][dataset]
    return pd.DataFrame([{"class": name, "accuracy": a, "true": t, "predicted": p} for name, (a, t, p) in table.items()])


def loss_curves(record: dict) -> pd.DataFrame:
    """The run's training log in long form: epoch, stage, component, split (train/validation), value."""
    path = project_path(record.get("loss_log"))
    if path is None:
        return pd.DataFrame(columns=["epoch", "stage", "component", "split", "value"])
    if not path.is_file():
        raise FileNotFoundError(f"training log {path} not found")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    long = []
    for row in rows:
        for column, value in row.items():
            if value in ("", None) or column in ("epoch", "stage", "learning_rate", "seconds", "lr"):
                continue
            split = "validation" if column.startswith("val_") else "train"
            component = column.removeprefix("val_")
            try:
                long.append({"epoch": int(row["epoch"]), "stage": row.get("stage", ""), "component": component, "split": split, "value": float(value)})
            except ValueError:
                continue
    return pd.DataFrame(long, columns=["epoch", "stage", "component", "split", "value"])


def unet_runs(records: list[dict]) -> pd.DataFrame:
    """One row per U-Net evaluation: Dice as the garment report gives it."""
    rows = []
    for record in records:
        if record.get("kind") != "unet":
            continue
        m, config = record.get("metrics", {}), record.get("config", {})
        rows.append({
            "run": record.get("run"), "input size": config.get("input_size"), "images": m.get("images"),
            "Dice mean": m.get("dice_mean"), "Dice median": m.get("dice_median"),
            "Dice mean (outliers removed)": m.get("dice_mean_outlier_corrected"), "double pass": m.get("double_pass"),
            "threshold": m.get("threshold"), "seconds": m.get("inference_seconds"), "evaluated": record.get("evaluated_at"),
        })
    return pd.DataFrame(rows)


ROBUSTNESS_METRICS = {
    "maskrcnn": {"map50": "mAP@50", "classification_score": "Classification", "f1": "F1", "exact_match_ratio": "EMR",
                 "overall_accuracy": "OA", "jaccard": "JSS", "coco_ap50": "COCO AP50", "inference_seconds": "seconds"},
    "unet": {"dice_mean": "Dice mean", "dice_median": "Dice median", "inference_seconds": "seconds"},
}


def robustness_runs(records: list[dict], model_kind: str) -> pd.DataFrame:
    """One row per (robustness run, variant) of ``model_kind`` models, metrics under display names.

    A run is labelled by its name and time, so two runs of one model never merge.
    """
    names = ROBUSTNESS_METRICS[model_kind]
    rows, seen = [], Counter()
    for record in records:
        if record.get("kind") != "robustness" or record.get("config", {}).get("model_kind") != model_kind:
            continue
        label = f"{record.get('run')} · {record.get('evaluated_at', '')}"
        seen[label] += 1
        if seen[label] > 1:  # two runs of one name within a second
            label += f" ({seen[label]})"
        photos = record.get("data", {}).get("photos")
        # a run with non-default options (--focus, --min-confidence ...) is an ablation, not the model as shipped
        as_shipped = not record.get("config", {}).get("predict_options")
        for variant, metrics_ in record.get("metrics", {}).get("variants", {}).items():
            rows.append({"run": label, "variant": variant, "photos": photos, "weights": record.get("weights"),
                         "model defaults": as_shipped, **{shown: metrics_.get(key) for key, shown in names.items()}})
    return pd.DataFrame(rows, columns=["run", "variant", "photos", "weights", "model defaults", *names.values()])


def default_robustness_runs(runs: pd.DataFrame, count: int = 2) -> list[str]:
    """The runs to compare first: the newest run of each model with its own settings, newest models first."""
    shipped = runs[runs["model defaults"]].drop_duplicates("run")
    newest = shipped.drop_duplicates("weights", keep="last")
    chosen = list(newest["run"])[-count:]
    return chosen or list(dict.fromkeys(runs["run"]))[-count:]


def variant_order(variants) -> list[str]:
    """Variant names in :data:`fashionseg.robustness.VARIANT_NAMES` order (registry records store them sorted), others after."""
    from fashionseg.robustness import VARIANT_NAMES

    seen = list(dict.fromkeys(variants))
    return [v for v in VARIANT_NAMES if v in seen] + [v for v in seen if v not in VARIANT_NAMES]
