"""Tables behind the Experiments page: our recorded runs, the thesis' reference runs, per-class results, losses.

Every combined score (classification, segmentation, speed, TO, TTO) is
computed here from the recorded raw metrics with :mod:`fashionseg.core.metrics`,
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
import json
import math
from collections import Counter
from functools import cache
from importlib import resources
from pathlib import Path

import pandas as pd
import yaml

from fashionseg import settings
from fashionseg.core import metrics
from fashionseg.core.vocabulary import FASHIONSEG11
from fashionseg.settings import project_path

OURS = "ours"
REFERENCE = "thesis (reference)"
LOSS_COMPONENTS = ("loss", "rpn_class_loss", "rpn_bbox_loss", "mrcnn_class_loss", "mrcnn_bbox_loss", "mrcnn_mask_loss")

# Columns in the order the page shows them.
RUN_COLUMNS = [
    "source",
    "run",
    "run id",
    "label",
    "weights",
    "backbone",
    "input size",
    "data",
    "images",
    "seconds",
    "EMR",
    "OA",
    "JSS",
    "mAP@50",
    "F1",
    "COCO AP",
    "client EMR",
    "client OA",
    "client JSS",
    "Class_C",
    "Class_M",
    "Segmentation",
    "Speed",
    "TO",
    "TTO",
    "TTO (printed)",
    "evaluated",
    "record",
]


def _scores(test: dict, client: dict | None, seconds: float) -> dict:
    class_m = metrics.classification_score(test["emr"], test["oa"], test["jss"])
    class_c = metrics.classification_score(client["emr"], client["oa"], client["jss"]) if client else None
    segmentation = metrics.segmentation_score(test["map50"], test["f1"])
    speed = metrics.speed_score(seconds)
    to = metrics.trade_off(class_m, segmentation, speed)
    return {
        "Class_C": class_c,
        "Class_M": class_m,
        "Segmentation": segmentation,
        "Speed": speed,
        "TO": to,
        "TTO": None if class_c is None else metrics.total_trade_off(class_c, to),
    }


def run_ids(records: list[dict]) -> list[str]:
    """A label per record that no other record shares: the run's name and time (two runs of one name
    stay apart; ``(2)`` is added for two within one second).

    >>> run_ids([{"run": "a", "evaluated_at": "2026-11-26T16:18:07+00:00"}, {"run": "a", "evaluated_at": "2026-11-27T09:00:00+00:00"},
    ...          {"run": "a", "evaluated_at": "2026-11-27T09:00:30+00:00"}])
    ['a · 2026-11-26 16:18 UTC', 'a · 2026-11-27 09:00 UTC', 'a · 2026-11-27 09:00 UTC (2)']
    """
    seen: Counter = Counter()
    out = []
    for record in records:
        stamp = str(record.get("evaluated_at") or "time unknown")
        label = f"{record.get('run')} · {stamp.replace('T', ' ')[:16] + ' UTC' if 'T' in stamp else stamp}"
        seen[label] += 1
        out.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return out


def _short_label(record: dict) -> str:
    """A chart's axis label for a run: its model folder and the evaluation's day and minute."""
    stamp = str(record.get("evaluated_at") or "")
    when = stamp[5:16].replace("T", " ") if "T" in stamp else stamp
    return f"{Path(str(record.get('weights') or record.get('run') or '?')).name} · {when}"


def our_runs(records: list[dict]) -> pd.DataFrame:
    """One row per Mask R-CNN evaluation record, each with a unique ``run id`` (name + time)."""
    rows = []
    records = [r for r in records if r.get("kind") == "maskrcnn"]
    for record, run_id in zip(records, run_ids(records)):
        m, config, data = record.get("metrics", {}), record.get("config", {}), record.get("data", {})
        test = m.get("test", {})
        if "exact_match_ratio" not in test:
            continue  # a record from before the thesis metrics were kept
        raw = {
            "emr": test["exact_match_ratio"],
            "oa": test["overall_accuracy"],
            "jss": test["jaccard"],
            "map50": test["map50"],
            "f1": test["f1"],
        }
        client_m = m.get("client")
        client = (
            {"emr": client_m["exact_match_ratio"], "oa": client_m["overall_accuracy"], "jss": client_m["jaccard"]}
            if client_m
            else None
        )
        described = f"{Path(str(data.get('test', '?'))).name} [{data.get('split') or 'all'}]"
        if data.get("client"):
            described += f" + client {Path(str(data['client'])).name}"
        rows.append(
            {
                "source": OURS,
                "run": record.get("run", "?"),
                "run id": run_id,
                "label": _short_label(record),
                "weights": Path(str(record.get("weights") or "?")).name,
                "backbone": config.get("BACKBONE", "?"),
                "input size": config.get("IMAGE_MAX_DIM"),
                "data": described,
                "images": test.get("images"),
                "seconds": test["inference_seconds"],
                "EMR": raw["emr"],
                "OA": raw["oa"],
                "JSS": raw["jss"],
                "mAP@50": raw["map50"],
                "F1": raw["f1"],
                "COCO AP": test.get("coco_ap"),
                "client EMR": client and client["emr"],
                "client OA": client and client["oa"],
                "client JSS": client and client["jss"],
                **_scores(raw, client, test["inference_seconds"]),
                "evaluated": record.get("evaluated_at"),
                "record": record.get("path"),
            }
        )
    table = pd.DataFrame(rows, columns=RUN_COLUMNS)
    repeated = table.groupby("label").cumcount()
    table["label"] = [label if n == 0 else f"{label} ({n + 1})" for label, n in zip(table["label"], repeated)]  # unique
    return table


@cache
def _thesis() -> dict:
    text = resources.files("fashionseg").joinpath("data/thesis_results.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def reference_runs() -> pd.DataFrame:
    """The thesis' Base1-Full4 (Tables 8-10), scored with our formulas from its printed metrics."""
    rows = []
    for name, run in _thesis()["runs"].items():
        test, client = run["test"], run["client"]
        rows.append(
            {
                "source": REFERENCE,
                "run": name,
                "run id": f"{name} (thesis)",
                "label": f"{name} (thesis)",
                "weights": None,
                "backbone": run["backbone"],
                "input size": run["input_size"],
                "data": f"iMaterialist test + {run['classes']} classes; 460 client photos",
                "images": None,
                "seconds": test["seconds"],
                "EMR": test["emr"],
                "OA": test["oa"],
                "JSS": test["jss"],
                "mAP@50": test["map50"],
                "F1": test["f1"],
                "COCO AP": None,
                "client EMR": client["emr"],
                "client OA": client["oa"],
                "client JSS": client["jss"],
                **_scores(test, client, test["seconds"]),
                "TTO (printed)": run["scores"]["tto"],
                "evaluated": None,
                "record": _thesis()["source"],
            }
        )
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def printed_scores() -> pd.DataFrame:
    """The thesis' Table 10 as printed (rounded), to check our recomputation against.

    Every printed score follows from Tables 8-9 within rounding except Base2's
    TTO: printed 1.75, while 1.5 x 0.53 + 0.44 + 0.56 - 0.14 = 1.65.
    """
    return pd.DataFrame([{"run": name, **run["scores"]} for name, run in _thesis()["runs"].items()])


def default_runs(runs: pd.DataFrame, count: int = 3) -> list[str]:
    """The runs to compare first (``run id``s): the newest evaluation of each model, the app's default model
    first, then other models newest first; not just the newest records, which may all re-evaluate one model."""
    ours = runs[runs["source"] == OURS]
    newest = ours.drop_duplicates("weights", keep="last")
    default = settings.default_weights("maskrcnn")
    shipped = newest[newest["weights"] == (default.name if default else None)]
    others = newest[newest["weights"] != (default.name if default else None)].iloc[::-1]
    return list(pd.concat([shipped, others])["run id"])[:count]


def default_record(records: list[dict]) -> int:
    """Which evaluation to show alone first: the newest of the app's default model, else the newest."""
    default = settings.default_weights("maskrcnn")
    for k in range(len(records) - 1, -1, -1):
        if default is not None and Path(str(records[k].get("weights") or "")).name == default.name:
            return k
    return len(records) - 1


def per_class(record: dict) -> pd.DataFrame:
    """Per class: accuracy, true and predicted images (test and, where measured, client), COCO AP50."""
    rows = []
    for name in FASHIONSEG11.names:
        result = record.get("per_class", {}).get(name)
        if result is None:
            continue
        rows.append(
            {
                "class": name,
                "accuracy": result.get("accuracy"),
                "true": result.get("true_images"),
                "predicted": result.get("predicted_images"),
                "true instances": result.get("true_instances"),
                "predicted instances": result.get("predicted_instances"),
                "client accuracy": result.get("client_accuracy"),
                "COCO AP50": result.get("coco_ap50"),
            }
        )
    return pd.DataFrame(rows)


def _f1(precision: float | None, recall: float | None) -> float | None:
    if precision is None or recall is None:
        return None
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _ratio(part: float, whole: float) -> float | None:
    return None if whole == 0 else part / whole


def per_class_scores(record: dict, per_image: list[dict] | None = None) -> pd.DataFrame:
    """Per class: accuracy beside precision, recall and F1 at image level and at instance level.

    Accuracy counts true negatives, so a class the model never predicts
    scores high when it is rare (umbrella 1.00 on CCP, which has none);
    precision (of the predictions, how many are right) and recall (of the
    truth, how much is found) do not. Image level: does the photo hold the
    class. Instance level: a prediction is right when it matches a true
    instance of its class at mask IoU >= 0.5 (as in F1@50). Image level is
    exact from the record (its images, accuracy and true and predicted
    counts give the true positives); instance level needs the evaluation's
    per-photo results (``per_image``), else it is left empty.
    A class with nothing predicted has no precision; one with no truth, no recall.

    Example: 10 photos, 4 with shoes, 5 predicted to have them, 7 right (3 shoe photos found, 4 without shoes).
        >>> row = per_class_scores({"metrics": {"test": {"images": 10}}, "per_class": {"shoe": {
        ...     "accuracy": 0.7, "true_images": 4, "predicted_images": 5}}}).iloc[0]
        >>> [round(float(row[k]), 3) for k in ("image precision", "image recall", "image F1")]
        [0.6, 0.75, 0.667]
    """
    images = record.get("metrics", {}).get("test", {}).get("images")
    instance_counts = _instance_counts(per_image) if per_image is not None else {}
    rows = []
    for name in FASHIONSEG11.names:
        result = record.get("per_class", {}).get(name)
        if result is None:
            continue
        true, predicted, accuracy = result.get("true_images"), result.get("predicted_images"), result.get("accuracy")
        precision = recall = None
        if images and None not in (true, predicted, accuracy):
            # right = TP + TN = accuracy x images; wrong = FP + FN; true + predicted = 2 TP + FP + FN
            hits = round((true + predicted - (1 - accuracy) * images) / 2)
            precision, recall = _ratio(hits, predicted), _ratio(hits, true)
        counts = instance_counts.get(name)
        instance_precision = instance_recall = None
        if counts is not None:
            instance_precision, instance_recall = (
                _ratio(counts["matched"], counts["predicted"]),
                _ratio(counts["matched"], counts["true"]),
            )
        rows.append(
            {
                "class": name,
                "accuracy": accuracy,
                "image precision": precision,
                "image recall": recall,
                "image F1": _f1(precision, recall),
                "instance precision": instance_precision,
                "instance recall": instance_recall,
                "instance F1": _f1(instance_precision, instance_recall),
                "true": true,
                "predicted": predicted,
                "true instances": None if counts is None else counts["true"],
                "predicted instances": None if counts is None else counts["predicted"],
                "COCO AP50": result.get("coco_ap50"),
            }
        )
    return pd.DataFrame(rows)


def _instance_counts(per_image: list[dict]) -> dict[str, dict[str, int]]:
    """Per class: true and predicted instances and those matched at IoU >= 0.5 (every unmatched one is an error:
    a false negative or false positive, or one side of a confusion)."""
    counts = {name: {"true": 0, "predicted": 0, "matched": 0} for name in FASHIONSEG11.names}
    missed: Counter = Counter()
    for photo in per_image:
        for gt in photo.get("ground_truth", []):
            counts[FASHIONSEG11.name_of(gt["class_id"])]["true"] += 1
        for pred in photo.get("predictions", []):
            counts[FASHIONSEG11.name_of(pred["class_id"])]["predicted"] += 1
        for error in photo.get("errors", []):
            if error["type"] in ("false_negative", "confusion"):
                missed[FASHIONSEG11.name_of(error["class_id"])] += 1
    for name, c in counts.items():
        c["matched"] = c["true"] - missed[name]
    return counts


def per_image_results(record: dict) -> list[dict] | None:
    """The evaluation's per-photo results (its metrics file), or None when the file is not here."""
    path = project_path(record.get("data", {}).get("metrics_file"))
    if path is None or not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("per_image")
    except (OSError, ValueError):
        return None


# What each score means, for the page's tooltips (thesis section and equation in brackets).
METRIC_HELP = {
    "EMR": "Exact match ratio (eq. 1): share of photos whose predicted set of classes is exactly the true set.",
    "OA": "Overall accuracy (eq. 2): share of right present/absent decisions over all photos and classes; "
    "true negatives count, so it is high for any model on rare classes.",
    "JSS": "Jaccard similarity score (eq. 3): per photo, |true ∩ predicted classes| / |true ∪ predicted classes|, averaged.",
    "mAP@50": "Mean average precision at mask IoU 0.5 (eq. 6-9): per photo, precision over the ranked predictions, "
    "averaged over photos (as matterport computed the thesis' numbers).",
    "F1": "F1@50 (eq. 10): harmonic mean of precision and recall of instances matched at mask IoU >= 0.5.",
    "COCO AP": "COCO mask AP: precision averaged over IoU thresholds 0.5-0.95 and recall levels (pycocotools).",
    "Class_C": "Classification score on the client set (eq. 15): (3 EMR + OA + 2 JSS) / 6.",
    "Class_M": "Classification score on the model's test set (eq. 15): (3 EMR + OA + 2 JSS) / 6.",
    "Segmentation": "Segmentation score (eq. 17): mean of mAP@50 and F1.",
    "Speed": "Speed score (eq. 18): seconds per photo / 10; larger is slower (TO subtracts it).",
    "TO": "Trade-off (eq. 19): Class_M + Segmentation - Speed.",
    "TTO": "Total trade-off (eq. 21): 1.5 x Class_C + TO; the thesis' final model scored 1.85.",
    "seconds": "Wall-clock seconds per photo, from the encoded file to full-resolution masks.",
    "accuracy": "Image-level accuracy of the class's present/absent decision; counts true negatives (Appendix E).",
    "image precision": "Of the photos predicted to hold the class, the share that do.",
    "image recall": "Of the photos that hold the class, the share predicted to.",
    "image F1": "Harmonic mean of image precision and recall.",
    "instance precision": "Of the predicted instances of the class, the share matching a true one at mask IoU >= 0.5.",
    "instance recall": "Of the true instances of the class, the share matched by a prediction at mask IoU >= 0.5.",
    "instance F1": "Harmonic mean of instance precision and recall.",
    "COCO AP50": "COCO mask AP at IoU 0.5 for this class (pycocotools).",
}


def log_seconds_axis(low: float = 0.02, high: float = 5.0) -> dict:
    """Plotly x-axis settings for seconds on a log scale with one readable label per decade step
    (``20 ms``, ``50 ms``, ``0.1 s`` ... ``5 s``) instead of Plotly's ``2 5 0.1 2 5 1 2 5``.

    >>> log_seconds_axis(0.05, 1)["ticktext"]
    ['50 ms', '100 ms', '200 ms', '500 ms', '1 s']
    """
    values = [v * 10.0**e for e in range(-3, 3) for v in (1, 2, 5) if low - 1e-12 <= v * 10.0**e <= high + 1e-12]
    text = [f"{v * 1000:.0f} ms" if v < 1 else f"{v:g} s" for v in values]
    return {"type": "log", "tickvals": values, "ticktext": text, "range": [math.log10(low), math.log10(high)]}


def reference_per_class(dataset: str = "test") -> pd.DataFrame:
    """The thesis' final model per class (Appendix E): ``dataset`` 'test' (iMaterialist) or 'client'."""
    table = _thesis()["per_class_full4"][dataset]
    return pd.DataFrame(
        [{"class": name, "accuracy": a, "true": t, "predicted": p} for name, (a, t, p) in table.items()]
    )


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
                long.append(
                    {
                        "epoch": int(row["epoch"]),
                        "stage": row.get("stage", ""),
                        "component": component,
                        "split": split,
                        "value": float(value),
                    }
                )
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
        rows.append(
            {
                "run": record.get("run"),
                "input size": config.get("input_size"),
                "images": m.get("images"),
                "Dice mean": m.get("dice_mean"),
                "Dice median": m.get("dice_median"),
                "Dice mean (outliers removed)": m.get("dice_mean_outlier_corrected"),
                "double pass": m.get("double_pass"),
                "threshold": m.get("threshold"),
                "seconds": m.get("inference_seconds"),
                "evaluated": record.get("evaluated_at"),
            }
        )
    return pd.DataFrame(rows)


ROBUSTNESS_METRICS = {
    "maskrcnn": {
        "map50": "mAP@50",
        "classification_score": "Classification",
        "f1": "F1",
        "exact_match_ratio": "EMR",
        "overall_accuracy": "OA",
        "jaccard": "JSS",
        "coco_ap50": "COCO AP50",
        "inference_seconds": "seconds",
    },
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
            rows.append(
                {
                    "run": label,
                    "variant": variant,
                    "photos": photos,
                    "weights": record.get("weights"),
                    "model defaults": as_shipped,
                    **{shown: metrics_.get(key) for key, shown in names.items()},
                }
            )
    return pd.DataFrame(rows, columns=["run", "variant", "photos", "weights", "model defaults", *names.values()])


def default_robustness_runs(runs: pd.DataFrame, count: int = 2) -> list[str]:
    """The runs to compare first: the newest run of each model with its own settings, newest models first."""
    shipped = runs[runs["model defaults"]].drop_duplicates("run")
    newest = shipped.drop_duplicates("weights", keep="last")
    chosen = list(newest["run"])[-count:]
    return chosen or list(dict.fromkeys(runs["run"]))[-count:]


def variant_order(variants) -> list[str]:
    """Variant names in :data:`fashionseg.core.variants.VARIANT_NAMES` order (registry records store them sorted), others after."""
    from fashionseg.core.variants import VARIANT_NAMES

    seen = list(dict.fromkeys(variants))
    return [v for v in VARIANT_NAMES if v in seen] + [v for v in seen if v not in VARIANT_NAMES]
