"""How long the Segment page takes to show a settings change, models warm: a 512 px and a 12 MP photo.

Not a test (timings depend on the machine and its load); run it by hand:

    .venv/bin/python benchmarks/segment_page.py [--photo CCP_PHOTO] [--repeat 3]

Both photos are made from one CCP photo (resized to 512 px on the long side, and
scaled up to 12 MP). The page runs under Streamlit's AppTest: each figure is one
page run after one control changed (the script, in-process, no browser). The same
changes in headless Chromium, from the key press to the new overlay loaded, are
``fashionseg bench app --only segment`` (fashionseg/app/browser_bench.py).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fashionseg import settings  # noqa: E402
from fashionseg.app.browser_bench import make_photos  # noqa: E402

PAGE = ROOT / "app_pages" / "segment.py"


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
    next(m for m in at.multiselect if m.label == "Photos").set_value(
        [photo.name]
    ).run()  # loads the models, runs them once
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
    from fashionseg.app.resources import maskrcnn_config, trained
    from fashionseg.app.segment_view import PhotoSource, display_photo, overlay_items, run_instances, select_instances
    from fashionseg.core.overlay import draw_instances
    from fashionseg.models.maskrcnn.predictor import InstanceSegmenter

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


def summary(times: list[float]) -> str:
    ms = [t * 1000 for t in times]
    return f"median {statistics.median(ms):.0f} ms, max {max(ms):.0f} ms (n={len(ms)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", default=str(settings.ccp_root() / "photos" / "0044.jpg"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        photos = make_photos(Path(args.photo), Path(tmp))
        print(
            f"photos: {', '.join(f'{k}: {Image.open(v).size[0]} x {Image.open(v).size[1]}' for k, v in photos.items())}; "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
        )
        for size, photo in photos.items():
            for what, times in {**bench_package(photo, args.repeat), **bench_apptest(photo, args.repeat)}.items():
                print(f"{size:7} {what}: {summary(times)}")


if __name__ == "__main__":
    main()
