"""End to end in headless Chromium: the app started with the README's command, driven like a user.

Uses Debian's chromium (/usr/bin/chromium, or $FASHIONSEG_CHROMIUM) through
Playwright, which never downloads a browser here. Skips when there is no
chromium, except under FASHIONSEG_REQUIRE_BROWSER=1 (CI), where it fails.
Screenshots of every page go to build/screenshots (or $FASHIONSEG_SCREENSHOTS).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from fashionseg.app.browser_bench import CHROMIUM_FLAGS
from fashionseg.core.masks import mask_bbox
from fashionseg.store import AnnotationStore, import_coco

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = Path(os.environ.get("FASHIONSEG_SCREENSHOTS", ROOT / "build" / "screenshots"))
MODEL_WAIT_MS = 240_000  # the first photo loads TensorFlow and both models


def chromium_path() -> str:
    path = os.environ.get("FASHIONSEG_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        if os.environ.get("FASHIONSEG_REQUIRE_BROWSER") == "1":
            pytest.fail(
                "no chromium on PATH (apt-get install chromium); FASHIONSEG_REQUIRE_BROWSER=1 makes this a failure"
            )
        pytest.skip("no chromium on PATH")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def start_app(env: dict, log_path: Path):
    """``./run.sh app`` on a free port with ``env``; returns (process, url, log) once it answers."""
    port = free_port()
    log = open(log_path, "w+")  # noqa: SIM115 (read back on failure, closed by stop_app)
    server = subprocess.Popen(
        [str(ROOT / "run.sh"), "app", "--server.port", str(port)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://localhost:{port}"
    deadline = time.time() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read() == b"ok":
                    return server, url, log
        except OSError:
            pass
        if server.poll() is not None or time.time() > deadline:
            log.seek(0)
            pytest.fail(f"the app did not start: {log.read()[-3000:]}")
        time.sleep(0.5)


def print_what_the_user_saw(page, log) -> None:
    """On a failure, the page's text and the app log's end go to the test's captured output: a CI
    run's report then says which state the page was stuck in."""
    try:
        text = page.locator("body").inner_text(timeout=5_000)
    except Exception as exc:  # playwright's errors: the page itself may be what failed
        text = f"(page text unreadable: {exc})"
    log.flush()
    log.seek(0)
    print("--- page text ---", text[-2500:], "--- app log (end) ---", log.read()[-2500:], sep="\n")


def stop_app(server, log) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)
    log.close()


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, ccp_root, ccp_subset):
    """The app, started as the README says (./run.sh app), on a free port with a store holding CCP client photos."""
    store_path = tmp_path_factory.mktemp("browser") / "store.db"
    import_coco(AnnotationStore(store_path), ccp_subset / "client.json", ccp_root / "photos", "ccp-client")
    server, url, log = start_app(
        {"FASHIONSEG_STORE": str(store_path)}, tmp_path_factory.mktemp("browser-log") / "app.log"
    )
    yield url, store_path
    stop_app(server, log)


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    executable = chromium_path()
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1800})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(app_url[0])
    page.get_by_role("heading", name="FashionSeg").wait_for()
    yield page
    context.close()


def open_page(page, link: str, heading: str | None = None) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=link).click()
    page.get_by_role("heading", name=heading or link, exact=False).first.wait_for()


def wait_until_idle(page) -> None:
    """Until the script rerun a widget started has finished (Streamlit's running indicator is gone)."""
    page.wait_for_timeout(800)  # the indicator shows only once a rerun has run a moment
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=MODEL_WAIT_MS)


def download(page, button) -> Path:
    """Click a download button until the browser downloads (on a busy machine a click that lands
    while a rerun redraws the button can be lost) and return the downloaded file."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    for attempt in range(3):
        try:
            with page.expect_download(timeout=20_000) as event:
                button.click()
            return Path(event.value.path())
        except PlaywrightTimeoutError:
            if attempt == 2:
                raise
            wait_until_idle(page)
    raise AssertionError("unreachable")


def click_until_shown(page, button, shown, before) -> None:
    """Click `button` until `shown` appears. On a busy machine a click that lands while a rerun redraws
    the page can be lost (clean-clone CI runs lost a save and an export click this way); the click is
    repeated only once the page is idle and still shows `before`, so an action that merely ran slowly
    is never done twice."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    for attempt in range(3):
        button.click()
        try:
            shown.wait_for(timeout=20_000)
            return
        except PlaywrightTimeoutError:
            wait_until_idle(page)
            if shown.is_visible():
                return
            if attempt == 2 or not before.is_visible():
                raise


def draw_until_sent(page, draw, drawn_before: int) -> None:
    """Draw and apply until the instance list shows one more drawn instance. On a busy machine a rerun
    can remount the canvas mid-stroke (the shape never arrives: draw again) or swallow the Apply click
    (the button stays: click again); the same shape twice gives the same mask."""
    apply = page.get_by_role("button", name=re.compile(r"^Apply drawing \([1-9]\d*\)$"))
    drawn = page.get_by_text(re.compile(r"annotator · \d+ px"))
    for _ in range(3):
        wait_until_idle(page)
        if not apply.is_visible():
            draw(page.locator("canvas.upper-canvas").first.bounding_box())
        try:
            apply.wait_for(timeout=20_000)
            apply.click()
            drawn.nth(drawn_before).wait_for(timeout=30_000)
            return
        except Exception:  # playwright's TimeoutError
            continue
    raise AssertionError(f"the canvas never delivered drawing {drawn_before + 1}")


def screenshot(page, name: str, full_page: bool = True) -> None:
    """Save the page as it is now, once it shows no Python exception."""
    wait_until_idle(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, errors.first.inner_text()


def test_a_bookmarked_page_opened_first_gets_the_app_around_it(browser, app_url):
    # First in this file, so the server has served nothing yet: the case that once ran the page alone.
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(f"{app_url[0]}/experiments")
    page.get_by_role("heading", name="Experiments").wait_for(timeout=60_000)
    links = page.locator('[data-testid="stSidebarNav"]').get_by_role("link")
    links.first.wait_for()
    assert [t.strip().splitlines()[-1] for t in links.all_inner_texts()] == [
        "Home",
        "Segment",
        "Annotate",
        "Experiments",
        "Errors",
        "Classes",
    ]
    context.close()


def test_segment_a_photo_shows_the_overlay_and_the_timing(page, ccp_root):
    open_page(page, "Segment")
    assert page.locator('[data-testid="stCameraInput"]').count() == 0  # the camera only on request
    photo = sorted((ccp_root / "photos").glob("*.jpg"))[0]
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(photo))
    page.get_by_text(re.compile(r"Mask R-CNN: \d+ instances? · model ran in \d+ ms")).wait_for(timeout=MODEL_WAIT_MS)
    page.get_by_text(re.compile(r"U-Net cutout: garment \d+% of the photo · model ran in \d+ ms")).wait_for(
        timeout=MODEL_WAIT_MS
    )
    overlay = page.locator('[data-testid="stMain"] [data-testid="stImage"] img').first
    overlay.wait_for()
    assert overlay.evaluate("img => img.naturalWidth") > 0
    page.locator(".js-plotly-plot").get_by_text("Time per stage when the model ran (ms)").wait_for()
    page.get_by_text("Mask R-CNN: mean of 1 photo", exact=True).wait_for()
    screenshot(page, "segment")
    # A settings change redraws from the kept detections; no model runs again.
    slider = page.get_by_role("slider", name="Mask opacity")
    slider.focus()
    slider.press("ArrowRight")
    page.get_by_text(re.compile(r"Mask R-CNN: \d+ instances? · cached, no model ran")).wait_for()
    page.get_by_text("Mask R-CNN: mean of 1 photo", exact=True).wait_for()
    for width, height in ((1440, 900), (390, 844)):  # a laptop, a phone: what the client sees first
        page.set_viewport_size({"width": width, "height": height})
        screenshot(page, f"segment-{width}x{height}", full_page=False)


def test_segment_two_uploads_with_one_name(page, ccp_root):
    open_page(page, "Segment")
    first, second = sorted((ccp_root / "photos").glob("*.jpg"))[1:3]
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        files=[{"name": "image.jpg", "mimeType": "image/jpeg", "buffer": path.read_bytes()} for path in (first, second)]
    )
    page.get_by_role("heading", name="2. image.jpg").wait_for(timeout=MODEL_WAIT_MS)
    page.get_by_text("Mask R-CNN: mean of 2 photos", exact=True).wait_for(timeout=MODEL_WAIT_MS)
    assert page.get_by_role("heading", name="1. image.jpg").count() == 1


def test_segment_refuses_what_is_not_a_photo_and_never_renders_names_as_html(page):
    open_page(page, "Segment")
    uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    uploader.set_input_files(
        files=[{"name": "<b>bold</b>.jpg", "mimeType": "image/jpeg", "buffer": b"this is not a photo"}]
    )
    page.get_by_text(re.compile(r"not a readable image|cannot identify|not an image", re.I)).first.wait_for()
    assert page.locator("b", has_text="bold").count() == 0  # the name is text, not markup
    assert page.get_by_text("<b>bold</b>.jpg", exact=False).count() >= 1
    uploader.set_input_files(
        files=[{"name": "huge.jpg", "mimeType": "image/jpeg", "buffer": b"\xff" * (26 * 1024 * 1024)}]
    )
    page.get_by_text(re.compile(r"File must be 25(\.0)?\s?MB or smaller", re.I)).first.wait_for()
    screenshot(page, "segment-refused")


def drag(page, box, start, end) -> None:
    page.mouse.move(box["x"] + start[0], box["y"] + start[1])
    page.mouse.down()
    page.mouse.move(box["x"] + (start[0] + end[0]) / 2, box["y"] + (start[1] + end[1]) / 2, steps=5)
    page.mouse.move(box["x"] + end[0], box["y"] + end[1], steps=5)
    page.mouse.up()


def test_annotate_draws_a_rectangle_and_a_polygon_and_saves_them_at_full_resolution(page, app_url):
    store = AnnotationStore(app_url[1])
    open_page(page, "Annotate")
    page.get_by_text(re.compile(r"0 of \d+ reviewed")).wait_for(timeout=MODEL_WAIT_MS)
    page.get_by_text(re.compile(r"^Instances$")).wait_for(timeout=MODEL_WAIT_MS)
    annotator = page.get_by_label("Annotator", exact=True).and_(page.locator("input"))
    annotator.fill("Browser test")
    annotator.press("Enter")
    wait_until_idle(page)
    page.get_by_text("Rectangle", exact=True).click()
    wait_until_idle(page)
    canvas = page.locator("canvas.upper-canvas").first
    canvas.wait_for()
    box = canvas.bounding_box()
    rectangle = (40, 60), (140, 200)  # canvas pixels
    draw_until_sent(page, lambda box: drag(page, box, *rectangle), drawn_before=0)

    page.get_by_text("Polygon", exact=True).click()
    # The mode reaches the canvas with the rerun the click starts, and the canvas component a moment
    # later: corners clicked before that draw empty rectangles (seen once on a busy machine).
    page.get_by_role("radio", name="Polygon").and_(page.locator(":checked")).wait_for()
    wait_until_idle(page)
    page.wait_for_timeout(1000)
    corners = [(200, 300), (300, 300), (300, 380), (200, 380)]  # 100 x 80 canvas pixels

    def polygon(box):
        for x, y in corners + corners[:1]:  # clicking the first corner again closes the polygon
            page.mouse.click(box["x"] + x, box["y"] + y)
            page.wait_for_timeout(150)

    draw_until_sent(page, polygon, drawn_before=1)
    screenshot(page, "annotate")

    image = store.images("ccp-client")[0]
    click_until_shown(
        page,
        page.get_by_role("button", name="Save and mark reviewed"),
        page.get_by_text(re.compile(r"1 of \d+ reviewed")),
        before=page.get_by_text(re.compile(r"0 of \d+ reviewed")),
    )
    drawn = [a for a in store.annotations(image.id) if a.origin == "annotator"]
    assert len(drawn) == 2 and {a.author for a in drawn} == {"Browser test"}
    scale = image.width / box["width"]
    (start, end) = rectangle
    x, y, w, h = mask_bbox(drawn[0].mask())
    expected = np.array([start[0], start[1], end[0] - start[0], end[1] - start[1]]) * scale
    # Fabric draws the rectangle's outline on the drag box; the mask follows it to within the 2-px stroke.
    assert np.allclose([x, y, w, h], expected, atol=2.5 * scale), ([x, y, w, h], expected.tolist())
    x, y, w, h = mask_bbox(drawn[1].mask())
    assert np.allclose([x, y, w, h], np.array([200, 300, 100, 80]) * scale, atol=1.5 * scale), ([x, y, w, h], scale)
    assert abs(drawn[1].area - 100 * 80 * scale**2) < 0.03 * 100 * 80 * scale**2


def test_the_app_listens_on_localhost_only(app_url):
    port = int(app_url[0].rsplit(":", 1)[1])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("10.255.255.255", 1))  # no packet is sent: this only picks the outward interface
        outward = probe.getsockname()[0]
    if outward.startswith("127."):
        pytest.skip("this machine has no network interface but loopback")
    with pytest.raises(OSError):
        socket.create_connection((outward, port), timeout=3).close()


def test_experiments_errors_and_classes_pages_render(page):
    open_page(page, "Experiments")
    page.locator(".js-plotly-plot").nth(3).wait_for()
    assert page.get_by_text("Total trade-off (TTO) per run").count() == 1
    screenshot(page, "experiments")
    open_page(page, "Errors")
    page.locator('[data-testid="stImage"] img').nth(1).wait_for(timeout=120_000)  # ground truth and prediction
    screenshot(page, "errors")
    open_page(page, "Classes")
    page.get_by_text("The 11 classes (thesis Table 5)").wait_for()
    screenshot(page, "classes")
    open_page(page, "Home", "FashionSeg")
    page.get_by_text(re.compile(r"Instance segmentation \(Mask R-CNN\): model")).wait_for()
    screenshot(page, "home")


def test_a_fresh_install_imports_annotates_saves_undoes_and_exports_reviewed_only(browser, ccp_root, tmp_path):
    """The annotator's first session without the command line: an empty store, a zip of photos, two images
    saved (one with a drawn rectangle, one accepted as it is), the second save undone from
    the next image, and the reviewed-only export holding just the first image."""
    import json
    import zipfile

    photos = sorted((ccp_root / "photos").glob("*.jpg"))[:3]
    upload = tmp_path / "shoot.zip"
    with zipfile.ZipFile(upload, "w") as z:
        for path in photos:
            z.write(path, f"shoot/{path.name}")
    store_path = tmp_path / "fresh.db"
    server, url, log = start_app(
        {"FASHIONSEG_STORE": str(store_path), "FASHIONSEG_UPLOADS": str(tmp_path / "uploads")}, tmp_path / "app.log"
    )
    context = browser.new_context(viewport={"width": 1400, "height": 1800}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(f"{url}/annotate")
        page.get_by_text("has no data set yet").wait_for()
        annotator = page.get_by_label("Annotator", exact=True).and_(page.locator("input"))
        annotator.fill("Fresh")
        annotator.press("Enter")
        wait_until_idle(page)
        page.get_by_text("Upload photos", exact=True).click()
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(upload))
        wait_until_idle(page)
        name = page.get_by_label("Data set name").and_(page.locator("input"))
        name.fill("shoot")
        name.press("Enter")
        wait_until_idle(page)
        import_button = page.get_by_role("button", name="Import", exact=True)
        click_until_shown(page, import_button, page.get_by_text("0 of 3 reviewed"), before=import_button)
        store = AnnotationStore(store_path)
        images = store.images("shoot")
        assert [im.file_name for im in images] == [f"shoot/{p.name}" for p in photos]
        page.get_by_text(re.compile(r"^Instances$")).wait_for(
            timeout=MODEL_WAIT_MS
        )  # the first image, pre-annotated by the model

        # First image: draw a rectangle as a new instance, save with the button.
        page.get_by_text("Rectangle", exact=True).click()
        wait_until_idle(page)
        draw_until_sent(page, lambda box: drag(page, box, (40, 60), (140, 200)), drawn_before=0)
        # At once: the page never applies a drawing twice, and a lost click is repeated only from "0 of 3".
        click_until_shown(
            page,
            page.get_by_role("button", name="Save and mark reviewed"),
            page.get_by_text("1 of 3 reviewed"),
            before=page.get_by_text("0 of 3 reviewed"),
        )
        first = [a for a in store.annotations(images[0].id) if a.origin == "annotator"]
        assert len(first) == 1 and first[0].author == "Fresh"
        # Second image: accept it as it is, then undo that save from the third.
        page.get_by_text(re.compile(rf"^{re.escape(images[1].file_name)} · ")).wait_for()
        wait_until_idle(page)
        click_until_shown(
            page,
            page.get_by_role("button", name="Save and mark reviewed"),
            page.get_by_text("2 of 3 reviewed"),
            before=page.get_by_text("1 of 3 reviewed"),
        )
        assert store.image(images[1].id).reviewed
        page.get_by_text(f"Saved {images[1].file_name} (revision 1).").wait_for()
        click_until_shown(
            page,
            page.get_by_role("button", name="Undo that save"),
            page.get_by_text("1 of 3 reviewed"),
            before=page.get_by_text("2 of 3 reviewed"),
        )
        page.get_by_text(
            re.compile(rf"^{re.escape(images[1].file_name)} · .* · revision 2 · not reviewed yet")
        ).wait_for()
        assert not store.image(images[1].id).reviewed
        screenshot(page, "annotate-fresh-install")

        # Export the reviewed images only: the first one, with its drawn instance. The undo's rerun
        # ends first: a click on a button that rerun redraws can be lost (a clean-clone CI run, once).
        wait_until_idle(page)
        page.locator('[data-testid="stSidebar"]').get_by_text("Export", exact=True).click()
        reviewed_download = page.get_by_role("button", name="Download 1 images (reviewed)")
        reviewed_only = page.get_by_role("button", name="Reviewed only")
        click_until_shown(page, reviewed_only, reviewed_download, before=reviewed_only)
        wait_until_idle(page)
        exported = json.loads(download(page, reviewed_download).read_text())
        assert [im["file_name"] for im in exported["images"]] == [images[0].file_name]
        assert {a["image_id"] for a in exported["annotations"]} == {images[0].coco_id}
        assert [a["author"] for a in exported["annotations"] if a["origin"] == "annotator"] == ["Fresh"]
    except Exception:
        print_what_the_user_saw(page, log)
        raise
    finally:
        context.close()
        stop_app(server, log)
