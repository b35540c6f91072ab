"""Shared fixtures. Tests that need ../shared/datasets/ccp skip when it is absent,
except under FASHIONSEG_REQUIRE_DATA=1 (CI), where they fail instead."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fashionseg import settings
from fashionseg.convert.ccp import convert_ccp



@pytest.fixture(autouse=True)
def restore_main_module():
    """Streamlit's AppTest leaves the page it ran as ``sys.modules["__main__"]``; a later test that
    spawns processes would make each child re-run that page. Put the real one back."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


def _run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fashionseg", *args], capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture()
def run_cli():
    """``run_cli(*args, env=None)``: ``python -m fashionseg ARGS`` in a subprocess, its output captured."""
    return _run_cli


def annotated_ids(root: Path, kind: str) -> list[int]:
    """Photo ids with a ``kind`` ('pixel-level' or 'image-level') annotation, ascending."""
    return sorted(int(p.stem) for p in (root / "annotations" / kind).glob("*.mat"))


@pytest.fixture(scope="session")
def ccp_root() -> Path:
    root = settings.ccp_root()
    if not (root / "label_list.mat").is_file():
        message = f"CCP data set not found at {root} (set FASHIONSEG_CCP_ROOT)"
        if os.environ.get("FASHIONSEG_REQUIRE_DATA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return root


@pytest.fixture(scope="session")
def ccp_subset_ids(ccp_root) -> set[int]:
    """A spread of the photos present: every 50th pixel-level and every 60th image-level one."""
    return set(annotated_ids(ccp_root, "pixel-level")[::50]) | set(annotated_ids(ccp_root, "image-level")[::60])


@pytest.fixture(scope="session")
def ccp_subset(ccp_root, ccp_subset_ids, tmp_path_factory) -> Path:
    """``ccp_subset_ids`` converted with the default rules; the folder holding the three files."""
    out = tmp_path_factory.mktemp("ccp_subset")
    convert_ccp(ccp_root, out, ids=ccp_subset_ids, progress=False)
    return out


@pytest.fixture()
def synthetic_store(tmp_path):
    """A store file with one data set 'client' of four small photos: the first with one ground-truth
    mask, all with client labels, and a client mapping ('shoes' -> 2 x shoe). Returns (path, name)."""
    import numpy as np
    from PIL import Image

    from fashionseg.masks import encode_rle
    from fashionseg.store import AnnotationStore, import_coco
    from fashionseg.vocabulary import FASHIONSEG11

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    images, labels = [], []
    for k in range(4):
        Image.fromarray(rng.integers(0, 255, (90, 60, 3), dtype=np.uint8)).save(photos / f"p{k}.png")
        images.append({"id": k + 1, "file_name": f"p{k}.png", "width": 60, "height": 90})
        labels.append({"id": 2 * k + 1, "image_id": k + 1, "raw_label": "shoes", "category_id": 8, "count": 2})
        labels.append({"id": 2 * k + 2, "image_id": k + 1, "raw_label": "hat", "category_id": None, "count": 0})
    mask = np.zeros((90, 60), bool)
    mask[50:80, 10:30] = True
    coco = {
        "images": images, "categories": FASHIONSEG11.coco_categories(), "image_labels": labels,
        "annotations": [{"id": 1, "image_id": 1, "category_id": 4, "segmentation": encode_rle(mask), "iscrowd": 0}],
        "fashionseg": {"label_mapping": {"name": "client", "rules": {"shoes": ["shoe", "shoe"], "jean": "pants", "hat": None}}},
    }
    path = tmp_path / "store.db"
    import_coco(AnnotationStore(path), coco, photos, "client")
    return path, "client"
