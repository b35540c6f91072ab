"""How long the Segment page takes to show a settings change, models warm: a 512 px and a 12 MP photo.

Not a test (timings depend on the machine and its load); run it by hand:

    .venv/bin/python benchmarks/segment_page.py [--photo CCP_PHOTO] [--repeat 3] [--browser]

Both photos are made from one CCP photo (resized to 512 px on the long side, and
scaled up to 12 MP). Without ``--browser`` the page runs under Streamlit's
AppTest: each figure is one page run after one control changed (the script,
in-process, no browser). With ``--browser`` the app is started as ``./run.sh app``
and driven in headless Chromium: each figure is from the key press on a control
to the new overlay loaded in the page.
"""

from __future__ import annotations

import argparse
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

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fashionseg import settings  # noqa: E402

PAGE = ROOT / "app_pages" / "segment.py"


def make_photos(source: Path, folder: Path) -> dict[str, Path]:
    image = Image.open(source).convert("RGB")
    width, height = image.size
    small = image.resize((round(width * 512 / max(width, height)), round(height * 512 / max(width, height))), Image.LANCZOS)
    factor = (12e6 / (width * height)) ** 0.5
    large = image.resize((round(width * factor), round(height * factor)), Image.BICUBIC)
    paths = {"512 px": folder / "photo_512.jpg", "12 MP": folder / "photo_12mp.jpg"}
    small.save(paths["512 px"], quality=92)
    large.save(paths["12 MP"], quality=92)
    return paths


# (what changes, how) for AppTest: each applied to the page in turn.
CHANGES = [
    ("min confidence", lambda at: _slider(at, "Min confidence").set_value(0.3)),
    ("min confidence back", lambda at: _slider(at, "Min confidence").set_value(0.5)),
    ("max instances", lambda at: _slider(at, "Max instances").set_value(3)),
    ("opacity", lambda at: _slider(at, "Mask opacity").set_value(0.8)),
    ("hide a class", lambda at: next(m for m in at.multiselect if m.label == "Hide classes").select("shoe")),
    ("boxes off", lambda at: next(t for t in at.toggle if t.label == "Boxes").set_value(False)),
    ("labels off", lambda at: next(t for t in at.toggle if t.label == "Labels").set_value(False)),
    ("U-Net threshold", lambda at: _slider(at, "Threshold").set_value(0.4)),
]


def _slider(at, label):
    return next(s for s in at.slider if s.label == label)


def page_ms(at) -> float:
    caption = next(c.value for c in at.caption if c.value.startswith("This page run took"))
    return float(re.search(r"took (\d+) ms", caption).group(1))


def bench_apptest(photo: Path, repeat: int) -> dict[str, list[float]]:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(PAGE), default_timeout=600).run()
    next(t for t in at.text_input if t.label == "Folder").input(str(photo.parent)).run()
    next(m for m in at.multiselect if m.label == "Photos").set_value([photo.name]).run()  # loads the models, runs them once
    assert not at.exception, at.exception
    wall, script = [], []
    for _ in range(repeat):
        for _, change in CHANGES:
            change(at)
            start = time.perf_counter()
            at.run()
            wall.append(time.perf_counter() - start)
            script.append(page_ms(at) / 1000)
            assert not at.exception and "cached, no model ran" in at.markdown[0].value, at.markdown[0].value
        at = AppTest.from_file(str(PAGE), default_timeout=600).run()  # fresh widgets (defaults) for the next round
        next(t for t in at.text_input if t.label == "Folder").input(str(photo.parent)).run()
        next(m for m in at.multiselect if m.label == "Photos").set_value([photo.name]).run()
    return {"AppTest run": wall, "page script": script}


def bench_package(photo: Path, repeat: int) -> dict[str, list[float]]:
    """The package calls one Mask R-CNN redraw makes (select, draw at display size), models warm."""
    from fashionseg.app_resources import maskrcnn_config, trained
    from fashionseg.maskrcnn.predictor import InstanceSegmenter
    from fashionseg.overlay import draw_instances
    from fashionseg.segment import PhotoSource, display_photo, overlay_items, run_instances, select_instances

    path = trained("maskrcnn")
    segmenter = InstanceSegmenter.load(path)
    segmenter.warm_up()
    config = maskrcnn_config(path)
    source = PhotoSource(photo.read_bytes())
    shown = display_photo(source)
    found = run_instances(segmenter, source, shown.shape)
    times = []
    for k in range(repeat * 5):
        start = time.perf_counter()
        selection = select_instances(found, config, 0.3 + 0.05 * (k % 5))
        draw_instances(shown.image, overlay_items(selection.instances, shown.scale), 0.5)
        times.append(time.perf_counter() - start)
    return {"select + draw": times, "model run (once)": [found.seconds]}


def bench_browser(photos: dict[str, Path], repeat: int) -> dict[str, dict[str, list[float]]]:
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("FASHIONSEG_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([str(ROOT / "run.sh"), "app", "--server.port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://localhost:{port}"
    results = {}
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
            for size, photo in photos.items():
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                page.set_default_timeout(240_000)
                start = time.perf_counter()
                page.goto(f"{url}/segment")
                page.get_by_text("Add a photo to start").wait_for()
                first_visit = time.perf_counter() - start
                page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(photo))
                page.get_by_text(re.compile(r"Mask R-CNN: \d+ instances? · model ran")).wait_for()
                overlay = page.locator('[data-testid="stMain"] [data-testid="stImage"] img').first
                # Each change must alter the overlay (its URL is its content's hash): min confidence to 1.0
                # (no instance shown), back to 0.05 (all the model kept), opacity one step.
                steps = [("min confidence", "Min confidence", "End"), ("min confidence", "Min confidence", "Home"),
                         ("opacity", "Mask opacity", None)]
                times = {"min confidence": [], "opacity": []}
                for k in range(repeat * 2):
                    for what, label, key in steps:
                        before = overlay.get_attribute("src")
                        slider = page.get_by_role("slider", name=label)
                        slider.focus()
                        start = time.perf_counter()
                        slider.press(key or ("ArrowRight", "ArrowLeft")[k % 2])
                        page.wait_for_function("(before) => { const img = document.querySelector("
                                               "'[data-testid=stMain] [data-testid=stImage] img');"
                                               " return img && img.src !== before && img.complete && img.naturalWidth > 0; }",
                                               arg=before, polling=20, timeout=60_000)
                        times[what].append(time.perf_counter() - start)
                results[size] = {f"{what} change to new overlay": t for what, t in times.items()}
                if size == next(iter(photos)):  # the app's first visit, right after its start
                    results[size]["first visit (page shown)"] = [first_visit]
                page.close()
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    return results


def summary(times: list[float]) -> str:
    ms = [t * 1000 for t in times]
    return f"median {statistics.median(ms):.0f} ms, max {max(ms):.0f} ms (n={len(ms)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", default=str(settings.ccp_root() / "photos" / "0044.jpg"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--browser", action="store_true", help="drive the app in headless Chromium instead of AppTest")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        photos = make_photos(Path(args.photo), Path(tmp))
        print(f"photos: {', '.join(f'{k}: {Image.open(v).size[0]} x {Image.open(v).size[1]}' for k, v in photos.items())}; "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        if args.browser:
            for size, figures in bench_browser(photos, args.repeat).items():
                for what, times in figures.items():
                    print(f"{size:7} browser  {what}: {summary(times)}")
            return
        for size, photo in photos.items():
            for what, times in {**bench_package(photo, args.repeat), **bench_apptest(photo, args.repeat)}.items():
                print(f"{size:7} {what}: {summary(times)}")


if __name__ == "__main__":
    main()
