"""Shared fixtures. Tests that need ../shared/datasets/ccp skip when it is absent,
except under FASHIONSEG_REQUIRE_DATA=1 (CI), where they fail instead."""

from __future__ import annotations

import os
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
