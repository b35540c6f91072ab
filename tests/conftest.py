"""Shared fixtures and markers. Tests that need ../shared/datasets/ccp skip when it is absent,
except under FASHIONSEG_REQUIRE_DATA=1 (CI), where they fail instead.

Markers (pyproject.toml): ``browser`` and ``data`` follow from the fixtures a test uses (any test
using ``page``/``browser``/``app_url`` drives Chromium; any using ``ccp_root`` or a fixture built on
it reads CCP), so no test can forget them. ``slow`` is written on the tests and modules that took
over ~2 s on 2 cores (``--durations=0``), and follows from ``run_cli`` (each run starts a Python
process that imports TensorFlow).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fashionseg import settings
from fashionseg.convert.ccp import convert_ccp

BROWSER_FIXTURES = {"page", "browser", "app_url"}
DATA_FIXTURES = {"ccp_root"}
SLOW_FIXTURES = {"run_cli"}


def pytest_collection_modifyitems(items):
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)
        if used & DATA_FIXTURES:
            item.add_marker(pytest.mark.data)
        if used & SLOW_FIXTURES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def restore_main_module():
    """Streamlit's AppTest leaves the page it ran as ``sys.modules["__main__"]``; a later test that
    spawns processes would make each child re-run that page. Put the real one back."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


def _run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fashionseg", *args], capture_output=True, text=True, env=env, timeout=600
    )


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


def fill_synthetic(store, folder: Path, name: str = "client") -> None:
    """Data set ``name`` of four small photos (written to ``folder``) into ``store``: the first with one
    ground-truth mask, all with client labels, and a client mapping ('shoes' -> 2 x shoe)."""
    import numpy as np
    from PIL import Image

    from fashionseg.core.masks import encode_rle
    from fashionseg.core.vocabulary import FASHIONSEG11
    from fashionseg.store import import_coco

    photos = folder / "photos"
    photos.mkdir(exist_ok=True)
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
        "images": images,
        "categories": FASHIONSEG11.coco_categories(),
        "image_labels": labels,
        "annotations": [{"id": 1, "image_id": 1, "category_id": 4, "segmentation": encode_rle(mask), "iscrowd": 0}],
        "fashionseg": {
            "label_mapping": {"name": "client", "rules": {"shoes": ["shoe", "shoe"], "jean": "pants", "hat": None}}
        },
    }
    import_coco(store, coco, photos, name)


@pytest.fixture()
def fill_synthetic_store():
    """``fill_synthetic_store(store, folder, name)``: :func:`fill_synthetic`, for tests that make their own store."""
    return fill_synthetic


@pytest.fixture()
def synthetic_store(tmp_path):
    """A SQLite store file holding :func:`fill_synthetic`'s data set 'client'. Returns (path, name)."""
    from fashionseg.store import AnnotationStore

    path = tmp_path / "store.db"
    fill_synthetic(AnnotationStore(path), tmp_path)
    return path, "client"


# ---------------------------------------------------------------- PostgreSQL


def _postgres_bindir() -> Path | None:
    """Where initdb and pg_ctl are: on PATH, or Debian's /usr/lib/postgresql/N/bin (not on PATH)."""
    import glob
    import shutil

    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parent.parent.name))
    return Path(versions[-1]).parent if versions else None


class PostgresServer:
    """A throwaway PostgreSQL server on 127.0.0.1: one per test session, one new database per store."""

    user, password = "fashionseg", "test-secret"

    def __init__(self, bindir: Path, root: Path, as_user: str | None):
        import socket

        self.bindir, self.root, self.as_user = bindir, root, as_user
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._count = 0

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]], capture_output=True, text=True, user=self.as_user, timeout=120
        )
        if result.returncode != 0:
            log = (self.root / "log").read_text(errors="replace")[-2000:] if (self.root / "log").exists() else ""
            raise RuntimeError(f"{args[0]} failed: {result.stderr or result.stdout}\n{log}")

    def start(self) -> None:
        (self.root / "pw").write_text(self.password)
        # Clients must give the password over TCP, so the wrong-password test meets real authentication.
        self._run(
            "initdb",
            "-D",
            str(self.root / "data"),
            "-U",
            self.user,
            f"--pwfile={self.root / 'pw'}",
            "-E",
            "UTF8",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--no-sync",
        )
        # fsync off: a killed client still leaves the server consistent; only a power cut would not.
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.root / "data"),
            "-l",
            str(self.root / "log"),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")

    def url(self, database: str, password: str | None = None) -> str:
        return f"postgresql://{self.user}:{password or self.password}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        self._count += 1
        name = f"store_{self._count}"
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user={self.user} password={self.password} dbname=postgres",
            autocommit=True,
        ) as c:
            c.execute(f"CREATE DATABASE {name}")
        return self.url(name)


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server the tests start themselves (Debian's ``postgresql`` package). Skips when its
    programs are missing, except under FASHIONSEG_REQUIRE_POSTGRES=1 (CI), where it fails instead."""
    import pwd
    import shutil
    import tempfile

    bindir = _postgres_bindir()
    if bindir is None:
        message = "PostgreSQL's initdb/pg_ctl not found (apt-get install postgresql)"
        if os.environ.get("FASHIONSEG_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    as_user = None
    root = Path(tempfile.mkdtemp(prefix="fashionseg-pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root: the server runs as Debian's postgres user
        try:
            entry = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root, and there is no 'postgres' user to run the test server as")
        os.chown(root, entry.pw_uid, entry.pw_gid)
        as_user = "postgres"
    server = PostgresServer(bindir, root, as_user)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def new_store(request, tmp_path):
    """``new_store()`` -> the location of a new, empty store: a SQLite file, or a new database on the
    test PostgreSQL server. Tests using it run once on each."""
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres_server")
        return server.new_database
    counter = iter(range(1000))
    return lambda: str(tmp_path / f"store{next(counter)}.db")


@pytest.fixture()
def cli_logger():
    """Put the ``fashionseg`` logger back as it was after a test that ran ``main`` (which configures it)."""
    logger = logging.getLogger("fashionseg")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    yield logger
    logger.handlers[:] = handlers
    logger.setLevel(level)
    logger.propagate = propagate
