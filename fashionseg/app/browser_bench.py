"""``fashionseg bench app``: how long the app's pages take for what their users do, in headless Chromium.

The app is started as ``./run.sh app`` does (``streamlit run app.py`` from
the project folder) on a free port, with a store of its own in a temporary
folder, and driven through Playwright with Debian's chromium (as the browser
tests are). Each figure is the wall clock from the user's action to its
result drawn in the page, with the machine as it is (the models warm after
the first photo); the command prints the median and the spread of each.

- first visit: from starting the server to the Segment page shown (the
  models keep loading in the background), and the page's own time after
  the server answers;
- Segment: a settings change (min confidence, opacity) to the new overlay
  loaded, for a 512 px photo and a 12 MP one made from one CCP photo;
- Annotate: accepting an unchanged pre-annotation (click to the next image
  shown) and moving to the next image;
- Errors: "Full photo" to the dialog's photo loaded.

``--app-dir`` runs another checkout's app (``git archive`` of an older
commit, say) with this machine's models and data, to compare before and
after a change with the same command.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from fashionseg import settings
from fashionseg.exceptions import UsageError

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PARTS = ("first-visit", "segment", "annotate", "errors")
MODEL_WAIT_MS = 300_000


def spread(times: list[float]) -> str:
    """Median, quartiles and extremes in ms.

    >>> spread([0.1, 0.2, 0.3, 0.4, 1.0])
    'median 300 ms, IQR 200-400, min-max 100-1000 (n=5)'
    """
    ms = sorted(t * 1000 for t in times)
    if len(ms) >= 4:
        q1, _, q3 = statistics.quantiles(ms, n=4, method="inclusive")
        iqr = f", IQR {q1:.0f}-{q3:.0f}"
    else:
        iqr = ""
    return f"median {statistics.median(ms):.0f} ms{iqr}, min-max {ms[0]:.0f}-{ms[-1]:.0f} (n={len(ms)})"


def chromium() -> str:
    path = os.environ.get("FASHIONSEG_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise UsageError("no chromium on PATH (apt-get install chromium, or set FASHIONSEG_CHROMIUM)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


class App:
    """The app's server, started like ``./run.sh app`` in ``app_dir`` with its own store; stopped on exit."""

    def __init__(self, app_dir: Path, store: Path, log: Path):
        self.port = free_port()
        self.url = f"http://localhost:{self.port}"
        env = {
            **os.environ,
            "FASHIONSEG_STORE": str(store),
            "FASHIONSEG_WEIGHTS": str(settings.weights_dir()),
            "FASHIONSEG_CCP_ROOT": str(settings.ccp_root()),
        }
        streamlit = Path(sys.executable).parent / "streamlit"
        self.started = time.perf_counter()
        with open(log, "w") as output:  # the app writes to its own copy of the file descriptor
            self.process = subprocess.Popen(
                [str(streamlit), "run", "app.py", "--server.port", str(self.port)],
                cwd=app_dir,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the app exited with status {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                    if response.read() == b"ok":
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the app did not answer within {timeout:.0f} s")

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)


def make_photos(source: Path, folder: Path) -> dict[str, Path]:
    """A 512 px and a 12 MP JPEG made from one photo."""
    from PIL import Image

    image = Image.open(source).convert("RGB")
    width, height = image.size
    small = image.resize(
        (round(width * 512 / max(width, height)), round(height * 512 / max(width, height))), Image.LANCZOS
    )
    factor = (12e6 / (width * height)) ** 0.5
    large = image.resize((round(width * factor), round(height * factor)), Image.BICUBIC)
    paths = {"512 px": folder / "photo_512.jpg", "12 MP": folder / "photo_12mp.jpg"}
    small.save(paths["512 px"], quality=92)
    large.save(paths["12 MP"], quality=92)
    return paths


def wait_idle(page, timeout: int = MODEL_WAIT_MS) -> None:
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=timeout)


def bench_first_visit(browser, app: App) -> dict[str, list[float]]:
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    app.wait_ready()
    answered = time.perf_counter()
    page.goto(f"{app.url}/segment")
    page.get_by_text(re.compile("Add a photo to start|Choose a model")).wait_for(timeout=120_000)
    shown = time.perf_counter()
    page.close()
    return {
        "server start to Segment shown": [shown - app.started],
        "Segment shown after the server answered": [shown - answered],
    }


def bench_segment(browser, app: App, photos: dict[str, Path], repeat: int) -> dict[str, list[float]]:
    results = {}
    for size, photo in photos.items():
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.set_default_timeout(MODEL_WAIT_MS)
        page.goto(f"{app.url}/segment")
        page.get_by_text("Add a photo to start").wait_for()
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(photo))
        page.get_by_text(re.compile(r"Mask R-CNN: \d+ instances? · model ran")).wait_for()
        wait_idle(page)
        overlay = page.locator('[data-testid="stMain"] [data-testid="stImage"] img').first
        # Each change must alter the overlay (its URL is its content's hash): min confidence to 1.0
        # (no instance shown), back to 0.05 (all the model kept), opacity one step.
        steps = [
            ("min confidence", "Min confidence", "End"),
            ("min confidence", "Min confidence", "Home"),
            ("opacity", "Mask opacity", None),
        ]
        times = {"min confidence": [], "opacity": []}
        for k in range(repeat):
            for what, label, key in steps:
                before = overlay.get_attribute("src")
                slider = page.get_by_role("slider", name=label)
                slider.focus()
                start = time.perf_counter()
                slider.press(key or ("ArrowRight", "ArrowLeft")[k % 2])
                page.wait_for_function(
                    "(before) => { const img = document.querySelector('[data-testid=stMain] [data-testid=stImage] img');"
                    " return img && img.src !== before && img.complete && img.naturalWidth > 0; }",
                    arg=before,
                    polling=20,
                    timeout=60_000,
                )
                times[what].append(time.perf_counter() - start)
                wait_idle(page)
        for what, t in times.items():
            results[f"Segment {size}: {what} change to new overlay"] = t
        page.close()
    return results


def preannotated_store(store_path: Path, count: int) -> str:
    """A store of CCP's image-level photos, the first ``count`` pre-annotated by the default model."""
    from fashionseg.annotation.preannotation import preannotate
    from fashionseg.models.maskrcnn.predictor import InstanceSegmenter
    from fashionseg.store import AnnotationStore
    from fashionseg.store.photo_import import SAMPLES, import_sample

    store = AnnotationStore(store_path)
    sample = next(s for s in SAMPLES if s.name == "ccp-client")
    import_sample(store, sample, sample.name, "bench")
    model = settings.default_weights("maskrcnn")
    if model is None:
        raise UsageError("no trained Mask R-CNN to pre-annotate with")
    preannotate(store, sample.name, InstanceSegmenter.load(model), model_name=model.name, limit=count)
    return sample.name


def bench_annotate(browser, app: App, repeat: int, total: int) -> dict[str, list[float]]:
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.set_default_timeout(120_000)
    page.goto(f"{app.url}/annotate")
    page.get_by_text(re.compile(r"0 of \d+ reviewed")).wait_for()
    name = page.get_by_label("Annotator", exact=True).and_(page.locator("input"))
    name.fill("bench")
    name.press("Enter")
    page.wait_for_timeout(500)
    wait_idle(page)
    accept, following = [], []
    caption = "[data-testid=stCaptionContainer]"
    shown = (
        "(b) => { const c = [...document.querySelectorAll('" + caption + "')].map(e => e.innerText)"
        ".find(t => /^\\S+ \\S \\d+ x \\d+ \\S revision/.test(t)); return c && c !== b; }"
    )

    canvas = page.locator(
        "canvas.upper-canvas"
    ).first  # inside the component's shadow root: a locator, not querySelector

    def current() -> str:
        return page.locator(caption).filter(has_text=re.compile(r"^\S+ · \d+ x \d+ · revision")).first.inner_text()

    for k in range(repeat):
        before = current()
        start = time.perf_counter()
        page.get_by_role("button", name="Save and mark reviewed").click()
        try:
            page.get_by_text(f"{k + 1} of {total} reviewed").wait_for()
            page.wait_for_function(shown, arg=before, polling=20)
        except Exception:
            page.screenshot(path=str(Path(tempfile.gettempdir()) / "fashionseg-bench-annotate.png"), full_page=True)
            raise RuntimeError(
                f"accept {k + 1}: the page did not move on from {before!r} (screenshot in {tempfile.gettempdir()})"
            ) from None
        canvas.wait_for()
        accept.append(time.perf_counter() - start)
        wait_idle(page)
    for _ in range(repeat):
        before = current()
        start = time.perf_counter()
        page.get_by_role("button", name="Next").click()
        try:
            page.wait_for_function(shown, arg=before, polling=20)
        except Exception:
            page.screenshot(path=str(Path(tempfile.gettempdir()) / "fashionseg-bench-annotate.png"), full_page=True)
            raise RuntimeError(
                f"next: the page did not move on from {before!r} (screenshot in {tempfile.gettempdir()})"
            ) from None
        canvas.wait_for()
        following.append(time.perf_counter() - start)
        wait_idle(page)
    page.close()
    return {
        "Annotate: accept an unchanged pre-annotation, to the next image shown": accept,
        "Annotate: next image (pre-annotated) shown": following,
    }


def bench_errors(browser, app: App, repeat: int) -> dict[str, list[float]]:
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.set_default_timeout(120_000)
    start = time.perf_counter()
    page.goto(f"{app.url}/errors")
    page.locator('[data-testid="stImage"] img').nth(23).wait_for()
    wait_idle(page)
    loaded = [time.perf_counter() - start]
    opened = []
    for k in range(repeat):
        start = time.perf_counter()
        page.get_by_role("button", name="Full photo").nth(k).click()
        page.locator('[role="dialog"] [data-testid="stImage"] img').nth(1).wait_for()
        opened.append(time.perf_counter() - start)
        wait_idle(page)
        page.keyboard.press("Escape")
        page.locator('[role="dialog"]').wait_for(state="hidden")
        wait_idle(page)
    page.close()
    return {"Errors: page with 12 error pairs shown": loaded, "Errors: Full photo dialog shown": opened}


def run(parts: list[str], repeat: int, photo: Path, app_dir: Path, annotate_images: int = 0) -> list[str]:
    """Run the chosen benchmarks; returns the report's lines."""
    from playwright.sync_api import sync_playwright

    unknown = set(parts) - set(PARTS)
    if unknown:
        raise UsageError(f"unknown part(s) {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    if not (app_dir / "app.py").is_file():
        raise UsageError(f"{app_dir} holds no app.py")
    executable = chromium()
    lines = [f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start; app from {app_dir}"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        store = tmp / "store.db"
        total = None
        if "annotate" in parts:
            preannotated_store(store, annotate_images or repeat + 1)
            from fashionseg.store import AnnotationStore

            total = AnnotationStore(store).review_progress("ccp-client")[1]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
            app = App(app_dir, store, tmp / "app.log")
            try:
                results = {}
                if "first-visit" in parts:
                    results.update(bench_first_visit(browser, app))
                app.wait_ready()
                if "segment" in parts:
                    results.update(bench_segment(browser, app, make_photos(photo, tmp), repeat))
                if "annotate" in parts:
                    results.update(bench_annotate(browser, app, repeat, total))
                if "errors" in parts:
                    results.update(bench_errors(browser, app, min(repeat, 12)))
            finally:
                app.stop()
                browser.close()
    lines += [f"{what}: {spread(times)}" for what, times in results.items()]
    return lines
