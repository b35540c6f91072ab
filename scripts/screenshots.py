"""Screenshots of every page of the app as its users first see it, into build/screenshots/.

    .venv/bin/python scripts/screenshots.py [--out build/screenshots]

Starts the app (as ``./run.sh app`` does) with a store of its own holding CCP's
image-level photos, a few pre-annotated, and opens each page in headless
Chromium at 1440 x 900 (a laptop), the Segment page also at 390 x 844 (a
phone): Home, Segment with a photo, Annotate, Experiments, Errors (and its
Full photo dialog), Classes. A page that shows a Python exception fails the
run. Needs the CCP data set and the trained models, as the app does.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fashionseg import settings  # noqa: E402
from fashionseg.app.browser_bench import CHROMIUM_FLAGS, MODEL_WAIT_MS, App, chromium, preannotated_store, wait_idle  # noqa: E402


def shoot(page, out: Path, name: str) -> None:
    page.wait_for_timeout(700)
    wait_idle(page)
    errors = page.locator('[data-testid="stException"]')
    if errors.count():
        raise SystemExit(f"{name}: the page shows an exception: {errors.first.inner_text()[:500]}")
    page.screenshot(path=str(out / f"{name}.png"))
    print(out / f"{name}.png", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "build" / "screenshots"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        preannotated_store(tmp / "store.db", 3)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
            app = App(ROOT, tmp / "store.db", tmp / "app.log")
            try:
                app.wait_ready()
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                page.set_default_timeout(MODEL_WAIT_MS)
                page.goto(app.url)
                page.get_by_role("heading", name="FashionSeg").wait_for()
                shoot(page, out, "home-1440x900")

                page.goto(f"{app.url}/segment")
                page.get_by_text("Add a photo to start").wait_for()
                page.locator('[data-testid="stFileUploaderDropzone"]').wait_for()
                page.get_by_role("button", name="Try the sample photos").wait_for()
                shoot(page, out, "segment-empty-1440x900")
                photo = settings.ccp_root() / "photos" / "0044.jpg"
                page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(photo))
                page.get_by_text(re.compile(r"U-Net cutout: garment \d+% of the photo")).wait_for()
                shoot(page, out, "segment-1440x900")
                page.set_viewport_size({"width": 390, "height": 844})
                shoot(page, out, "segment-390x844")
                page.set_viewport_size({"width": 1440, "height": 900})

                page.goto(f"{app.url}/annotate")
                page.get_by_text(re.compile(r"^Instances$")).wait_for()
                shoot(page, out, "annotate-1440x900")
                page.get_by_role("button", name="New data set ...").click()
                page.locator('[role="dialog"]').get_by_text("Import from").wait_for()
                shoot(page, out, "annotate-new-data-set-1440x900")
                page.keyboard.press("Escape")

                page.goto(f"{app.url}/experiments")
                page.locator(".js-plotly-plot").nth(2).wait_for()
                shoot(page, out, "experiments-1440x900")
                page.get_by_text("One run, per class").scroll_into_view_if_needed()
                shoot(page, out, "experiments-per-class-1440x900")

                page.goto(f"{app.url}/errors")
                page.locator('[data-testid="stImage"] img').nth(5).wait_for()
                shoot(page, out, "errors-1440x900")
                page.get_by_role("button", name="Full photo").first.click()
                page.locator('[role="dialog"] [data-testid="stImage"] img').nth(1).wait_for()
                shoot(page, out, "errors-full-photo-1440x900")
                page.keyboard.press("Escape")

                page.goto(f"{app.url}/classes")
                page.get_by_text("The 11 classes (thesis Table 5)").wait_for()
                shoot(page, out, "classes-1440x900")
            finally:
                app.stop()
                browser.close()


if __name__ == "__main__":
    main()
