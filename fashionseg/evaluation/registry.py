"""The experiments registry: one JSON record per evaluation, read by the app's dashboard.

Records live in ``experiments/`` (or ``$FASHIONSEG_EXPERIMENTS``), one file per
evaluation, named by time and run, so concurrent evaluations never write the
same file and the folder can be committed.

Example:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> path = record_evaluation("unet", "demo", {"dice_mean": 0.9}, registry=folder)
    >>> [r["run"] for r in list_records(registry=folder)]
    ['demo']
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

from fashionseg.core.files import write_text_atomic
from fashionseg.settings import PROJECT_ROOT

# "robustness": a model's metrics per variant of a test set (fashionseg.evaluation.robustness); its
# record's config names the model kind ("model_kind") and metrics hold {"variants": ...}.
KINDS = ("maskrcnn", "unet", "robustness")


def registry_dir() -> Path:
    value = os.environ.get("FASHIONSEG_EXPERIMENTS")
    return Path(value) if value else PROJECT_ROOT / "experiments"


def record_evaluation(
    kind: str,
    run: str,
    metrics: dict,
    *,
    config: dict | None = None,
    data: dict | None = None,
    per_class: dict | None = None,
    loss_log: str | None = None,
    weights: str | None = None,
    registry: str | Path | None = None,
) -> Path:
    """Write one evaluation record; returns its path."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    folder = Path(registry) if registry else registry_dir()
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    record = {
        "kind": kind,
        "run": run,
        "evaluated_at": now.isoformat(timespec="seconds"),
        "weights": weights,
        "config": config or {},
        "data": data or {},
        "metrics": metrics,
        "per_class": per_class or {},
        "loss_log": loss_log,
    }
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", run).strip("-") or "run"
    path = folder / f"{now.strftime('%Y%m%dT%H%M%S%f')}_{kind}_{slug}.json"
    write_text_atomic(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path


def list_records(kind: str | None = None, registry: str | Path | None = None) -> list[dict]:
    """Every record, oldest first; unreadable files are skipped, not fatal."""
    folder = Path(registry) if registry else registry_dir()
    records = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if kind is None or record.get("kind") == kind:
            records.append({**record, "path": str(path)})
    return records
