"""Where FashionSeg finds its data, weights and store. Each can be overridden by an
environment variable, so nothing from ``../shared`` is copied into the project."""

from __future__ import annotations

import json
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _path(variable: str, default: Path) -> Path:
    value = os.environ.get(variable)
    return Path(value).expanduser() if value else default


def project_relative(path: str | Path) -> str:
    """``path`` as records write it: relative to the project when it lies inside the project or beside it
    (``../shared/...``), so a record reads the same on every machine that has the same layout; else absolute.

    >>> project_relative(PROJECT_ROOT / "weights" / "x")
    'weights/x'
    >>> project_relative(PROJECT_ROOT.parent / "shared" / "datasets")
    '../shared/datasets'
    """
    resolved = Path(path).resolve()
    if resolved.is_relative_to(PROJECT_ROOT.parent):
        return os.path.relpath(resolved, PROJECT_ROOT)
    return str(resolved)


def project_path(value: str | Path | None) -> Path | None:
    """A path as records write it: absolute, or relative to the project (the inverse of ``project_relative``)."""
    if not value:
        return None
    path = Path(value)
    return path if path.is_absolute() else PROJECT_ROOT / path


def ccp_root() -> Path:
    """The Clothing Co-Parsing folder ($FASHIONSEG_CCP_ROOT, default ../shared/datasets/ccp)."""
    return _path("FASHIONSEG_CCP_ROOT", PROJECT_ROOT.parent / "shared" / "datasets" / "ccp")


def pretrained_weights_dir() -> Path:
    """Pretrained backbones ($FASHIONSEG_PRETRAINED, default ../shared/weights)."""
    return _path("FASHIONSEG_PRETRAINED", PROJECT_ROOT.parent / "shared" / "weights")


def weights_dir() -> Path:
    """Models the project trained itself ($FASHIONSEG_WEIGHTS, default weights/)."""
    return _path("FASHIONSEG_WEIGHTS", PROJECT_ROOT / "weights")


def store_path() -> Path:
    """The annotation store ($FASHIONSEG_STORE, default data/fashionseg.db)."""
    return _path("FASHIONSEG_STORE", PROJECT_ROOT / "data" / "fashionseg.db")


def store_location() -> str:
    """The annotation store as ``--db`` takes it: $FASHIONSEG_STORE, a file path or a database URL
    (``postgresql://user:password@host/db``), default data/fashionseg.db."""
    value = os.environ.get("FASHIONSEG_STORE", "")
    return value if "://" in value else str(store_path())


def uploads_dir() -> Path:
    """Where photos uploaded in the app are kept ($FASHIONSEG_UPLOADS, default data/uploads): the
    store records each data set's folder, so uploads must outlive the browser session."""
    return _path("FASHIONSEG_UPLOADS", PROJECT_ROOT / "data" / "uploads")


def converted_ccp_dir() -> Path:
    """Where ``fashionseg convert ccp`` output is looked for and written by the app (data/ccp)."""
    return _path("FASHIONSEG_CCP_CONVERTED", PROJECT_ROOT / "data" / "ccp")


DEFAULTS_FILE = "defaults.json"


def default_weights(kind: str) -> Path | None:
    """The default model of a kind ('unet', 'maskrcnn') as written in weights/defaults.json."""
    path = weights_dir() / DEFAULTS_FILE
    try:
        name = json.loads(path.read_text(encoding="utf-8")).get(kind)
    except (OSError, ValueError):
        return None
    return weights_dir() / name if name else None
