"""Segment: photos in, clothing instances (Mask R-CNN) and garment cutouts (U-Net) out, timed live."""

import logging
import time
from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from fashionseg import settings
from fashionseg.app.resources import (
    garment_segmenter,
    instance_segmenter,
    maskrcnn_config,
    model_or_error,
    result_cache,
    show_error,
    trained,
    unet_settings,
)
from fashionseg.app.segment_view import (
    THESIS_BUDGET_SECONDS,
    PhotoSource,
    TimingLog,
    budget_delta,
    class_counts,
    cutout_display,
    cutout_key,
    display_photo,
    escape_markdown,
    instance_rows,
    jpeg_bytes,
    masks_zip,
    number_photos,
    overlay_items,
    plural,
    predictions_coco,
    run_cutout,
    run_instances,
    run_summary,
    safe_stem,
    sample_photos,
    select_instances,
    stages_text,
    thresholds_text,
)
from fashionseg.core.overlay import class_cell_style, draw_instances, legend_html
from fashionseg.core.vocabulary import FASHIONSEG11
from fashionseg.exceptions import FashionSegError

PHOTO_TYPES = ["jpg", "jpeg", "png", "webp"]
log = logging.getLogger(__name__)
page_start = time.perf_counter()

st.title("Segment")
maskrcnn_path, unet_path = trained("maskrcnn"), trained("unet")
for label, path in (("Instance segmentation (Mask R-CNN)", maskrcnn_path), ("Garment cutout (U-Net)", unet_path)):
    if path is None:
        st.info(f"{label}: no trained model yet. This page never shows the output of untrained weights.")
available = [name for name, path in (("Mask R-CNN", maskrcnn_path), ("U-Net cutout", unet_path)) if path is not None]
if not available:
    st.stop()

timings: TimingLog = st.session_state.setdefault("segment_timings", TimingLog())
cache = result_cache()

with st.sidebar:
    st.header("Pipeline")
    pipelines = st.multiselect("Run", available, default=available, help="Both run side by side.")
    # Settings come from the model folders without loading the models, so the page shows at once;
    # a broken folder is reported (and its pipeline left out), not raised.
    if "Mask R-CNN" in pipelines:
        try:
            config = maskrcnn_config(maskrcnn_path)
        except FashionSegError as exc:
            show_error(exc, "Mask R-CNN: ")
            pipelines.remove("Mask R-CNN")
    if "U-Net cutout" in pipelines:
        try:
            unet_threshold, has_second = unet_settings(unet_path)
        except FashionSegError as exc:
            show_error(exc, "U-Net: ")
            pipelines.remove("U-Net cutout")
    st.caption("Settings below only filter and redraw: each photo runs through a model once.")
    if "Mask R-CNN" in pipelines:
        st.subheader("Mask R-CNN")
        own_threshold = float(config.DETECTION_MIN_CONFIDENCE)
        chosen_confidence = st.slider(
            "Min confidence",
            0.05,
            1.0,
            own_threshold,
            0.05,
            help=f"At {own_threshold:.2f}, the model's own thresholds apply ({thresholds_text(config)}); "
            "anywhere else, the one chosen here applies to every class.",
        )
        # Left where it starts, the slider means the model's own (per-class) thresholds.
        min_confidence = None if chosen_confidence == own_threshold else chosen_confidence
        if min_confidence is None and config.DETECTION_MIN_CONFIDENCE_PER_CLASS:
            st.caption(f"The model's thresholds: {thresholds_text(config)}.")
        max_instances = st.slider("Max instances", 1, config.DETECTION_MAX_INSTANCES, config.DETECTION_MAX_INSTANCES)
        capped = st.multiselect(
            "Per-class cap for",
            FASHIONSEG11.names,
            default=list(config.DETECTION_MAX_PER_CLASS),
            help="Thesis 5.5.1: at most N of a class per photo, the lowest scores dropped.",
        )
        cap = st.number_input("Cap", 1, 10, int(next(iter(config.DETECTION_MAX_PER_CLASS.values()), 2)))
        hidden = st.multiselect(
            "Hide classes",
            FASHIONSEG11.names,
            default=[],
            help="Leaves them out of the drawing, the table and the downloads.",
        )
        opacity = st.slider("Mask opacity", 0.0, 1.0, 0.5, 0.05)
        show_boxes = st.toggle("Boxes", value=True)
        show_labels = st.toggle("Labels", value=True)
        with st.expander(f"Model {maskrcnn_path.name}: settings"):
            st.dataframe(pd.DataFrame(config.rows(), columns=["setting", "value"]), hide_index=True)
    if "U-Net cutout" in pipelines:
        st.subheader("U-Net")
        double_pass = st.toggle(
            "Double pass",
            value=False,
            disabled=not has_second,
            help="The report's focus step: a second model on the photo around the first mask."
            if has_second
            else "This model has no second-pass model.",
        )
        threshold = st.slider(
            "Threshold",
            0.05,
            0.95,
            unet_threshold,
            0.01,
            help="Only redraws; with the double pass it also chooses what the second model sees, "
            "so there a change runs the second model again.",
        )

# The models load in the background while the user picks photos.
if "Mask R-CNN" in pipelines:
    instance_segmenter(str(maskrcnn_path))
if "U-Net cutout" in pipelines:
    garment_segmenter(str(unet_path))

samples = sample_photos(settings.ccp_root())
upload_tab, camera_tab, samples_tab, folder_tab = st.tabs(["Upload", "Camera", "Sample photos", "Image folder"])
named: list[tuple[str, bytes]] = []
with upload_tab:
    uploads = st.file_uploader("Photos of people", type=PHOTO_TYPES, accept_multiple_files=True)
    named += [(u.name, u.getvalue()) for u in uploads or []]
with camera_tab:
    if st.toggle("Use the camera", key="segment_camera", help="The browser asks for the camera only once this is on."):
        shot = st.camera_input("Take a photo")
        if shot is not None:
            named.append(("camera.jpg", shot.getvalue()))
with samples_tab:
    if samples:
        if st.toggle(f"Show the {len(samples)} sample photos", key="segment_samples"):
            named += [(path.name, path.read_bytes()) for path in samples]
        st.caption(
            "Street photos from the Clothing Co-Parsing data set (Apache-2.0), from the validation split, "
            "which the models never trained on."
        )
    else:
        st.info(
            f"The sample photos are read from the CCP data set, which is not at {escape_markdown(str(settings.ccp_root()))} "
            "on this machine (set FASHIONSEG_CCP_ROOT to its folder). Your own photos work the same: add them in "
            "the Upload tab (jpg, png or webp, up to 25 MB each)."
        )
with folder_tab:
    folder = Path(st.text_input("Folder", str(settings.ccp_root() / "photos")))
    files = (
        sorted(p.name for p in folder.glob("*") if p.suffix.lower().lstrip(".") in PHOTO_TYPES)
        if folder.is_dir()
        else []
    )
    if not files:
        st.caption("No photos in this folder.")
    chosen = st.multiselect("Photos", files, max_selections=8)
    named += [(name, (folder / name).read_bytes()) for name in chosen]

if not pipelines:
    st.info("Choose a model to run under **Pipeline → Run** in the sidebar.")
    st.stop()
if not named:
    hint = "upload one, take one with the camera, or pick one from a folder"
    st.info(f"Add a photo to start: {hint}." + (" Or try the sample photos." if samples else ""))
    if samples:
        st.button(
            "Try the sample photos", on_click=lambda: st.session_state.update(segment_samples=True), type="primary"
        )
    st.stop()


loading_seconds = 0.0


def waited_for(load, *args):
    """``load(*args)``, its time added to ``loading_seconds`` (models load once per app start, not per photo)."""
    global loading_seconds
    start = time.perf_counter()
    try:
        return load(*args)
    finally:
        loading_seconds += time.perf_counter() - start


def model_result(key, loader, path, label: str, run, stage: str, photo):
    """``(result, ran)``: the cached result for ``key``, or ``run(model)`` now, cached and logged under ``stage``.

    ``(None, False)`` when the model cannot be loaded (``model_or_error`` has shown why).
    """
    found = cache.get(key)
    if found is not None:
        return found, False
    model = waited_for(model_or_error, loader, path, label)
    if model is None:
        return None, False
    found = run(model)
    cache.put(key, found)
    timings.add(stage, photo.digest, found.seconds, photo.name, found.timings)
    return found, True


def show_instances(photo, source, shown) -> bool:
    """The Mask R-CNN column of one photo; whether the model ran for it."""
    found, ran = model_result(
        ("maskrcnn", str(maskrcnn_path), photo.digest),
        instance_segmenter,
        maskrcnn_path,
        "Mask R-CNN",
        lambda model: run_instances(model, source, shown.shape),
        "Mask R-CNN",
        photo,
    )
    if found is None:
        return False
    start = time.perf_counter()
    selection = select_instances(found, config, min_confidence, max_instances, {c: int(cap) for c in capped})
    selection.instances = [d for d in selection.instances if d.class_name not in hidden]
    overlay = jpeg_bytes(
        draw_instances(shown.image, overlay_items(selection.instances, shown.scale), opacity, show_boxes, show_labels)
    )
    drawn = time.perf_counter() - start
    st.image(overlay, width="stretch")
    st.markdown(
        f"**Mask R-CNN**: {plural(len(selection.instances), 'instance')} · {run_summary(found.seconds, ran)} · "
        f"drawn in {drawn * 1000:.0f} ms",
        help=f"When the model ran: {stages_text(found.timings)}.",
    )
    if selection.instances:
        st.markdown(legend_html(class_counts(selection.instances)), unsafe_allow_html=True)
        table = pd.DataFrame(instance_rows(selection))
        st.dataframe(
            table.style.format({"score": "{:.3f}", "area %": "{:.2f}"}).map(class_cell_style, subset=["class"]),
            hide_index=True,
        )
    else:
        st.caption("No instance passes these settings." if found.detections else "The model found no clothing here.")
    stem = safe_stem(photo.name)
    # Built only when clicked (full-resolution masks of a 12 MP photo take a while), without a rerun.
    st.download_button(
        "Predictions (COCO JSON)",
        lambda: predictions_coco(selection.full_result(), photo.name),
        f"{stem}_instances.json",
        "application/json",
        key=f"coco_{photo.key}",
        on_click="ignore",
    )
    st.download_button(
        "Masks (PNG, zip)",
        lambda: masks_zip(selection.full_result(), photo.name),
        f"{stem}_masks.zip",
        "application/zip",
        key=f"zip_{photo.key}",
        on_click="ignore",
    )
    return ran


def show_cutout(photo, source, shown) -> bool:
    """The U-Net column of one photo; whether the model ran for it."""
    key = cutout_key(str(unet_path), photo.digest, threshold, double_pass)
    cut, ran = model_result(
        key,
        garment_segmenter,
        unet_path,
        "U-Net",
        lambda model: run_cutout(model, source, shown.shape, threshold, double_pass),
        "U-Net cutout, double pass" if double_pass else "U-Net cutout",
        photo,
    )
    if cut is None:
        return False
    start = time.perf_counter()
    # The Mask R-CNN's settings change far more often than the threshold: the cutout is drawn once for each.
    view, _ = cache.get_or_compute(("cutout view", key, threshold), lambda: cutout_display(shown, cut, threshold))
    drawn = time.perf_counter() - start
    st.image(view.jpeg, width="stretch")
    st.markdown(
        f"**U-Net cutout**: garment {view.share:.0%} of the photo · {run_summary(cut.seconds, ran)} · "
        f"drawn in {drawn * 1000:.0f} ms",
        help=f"When the model ran: {stages_text(cut.timings)}.",
    )
    st.download_button(
        "Cutout (RGBA PNG)",
        lambda: cut.cutout_png(photo.data, threshold),
        f"{safe_stem(photo.name)}_cutout.png",
        "image/png",
        key=f"cut_{photo.key}",
        on_click="ignore",
    )
    return ran


@st.cache_data(max_entries=8, show_spinner=False)
def stage_chart(rows: list[dict]):
    """Built when a model ran, not on every redraw (Plotly Express takes ~30 ms)."""
    chart = px.bar(
        pd.DataFrame(rows),
        x="ms",
        y="photo",
        color="stage",
        orientation="h",
        height=120 + 28 * len({r["photo"] for r in rows}),
        title="Time per stage when the model ran (ms)",
    )
    chart.update_layout(
        margin=dict(l=0, r=0, t=30, b=0), yaxis_title=None, yaxis_autorange="reversed"
    )  # first photo on top
    return chart


photos = number_photos(named)
models_ran = readable = 0
for photo in photos:
    st.divider()
    st.subheader(escape_markdown(photo.title), anchor=False)
    source = PhotoSource(photo.data)
    try:
        shown, _ = cache.get_or_compute(("display", photo.digest), lambda source=source: display_photo(source))
    except FashionSegError as exc:
        show_error(exc, f"{photo.name}: ")
        continue
    if shown.shape != (shown.height, shown.width):
        st.caption(
            f"{shown.width} × {shown.height} px, drawn at {shown.shape[1]} × {shown.shape[0]}; downloads are full size."
        )
    readable += 1
    ran = False
    for column, pipeline in zip(st.columns(len(pipelines)), pipelines):
        with column:
            try:
                ran |= (show_instances if pipeline == "Mask R-CNN" else show_cutout)(photo, source, shown)
            except FashionSegError as exc:
                show_error(exc, f"{pipeline}: ")
            except Exception as exc:  # one photo's failure must not take the page (and the client's other photos) down
                log.exception("Segment page: %s failed on %s", pipeline, photo.name)
                st.error(
                    escape_markdown(
                        f"{pipeline} failed on this photo ({type(exc).__name__}: {exc}). "
                        "The details are in the app's log."
                    )
                )
    models_ran += ran

timed = [pipeline for pipeline in timings.runs if timings.count(pipeline)]
if timed or readable:  # nothing to say while every photo so far was refused
    st.divider()
    st.subheader("This session", anchor=False)
if timed:
    for column, pipeline in zip(st.columns(len(timed)), timed):
        mean = timings.mean(pipeline)
        delta, colour = budget_delta(mean)
        column.metric(
            f"{pipeline}: mean of {plural(timings.count(pipeline), 'photo')}",
            f"{mean * 1000:.0f} ms",
            delta,
            delta_color=colour,
            delta_arrow="off",
            help="Each photo counted once, from its encoded file to its masks, measured when the model ran "
            f"on it. The thesis' budget: {THESIS_BUDGET_SECONDS:.0f} s per photo.",
        )
    st.plotly_chart(stage_chart(timings.stage_rows()), key="segment_stages")
elif readable:
    st.caption("No model ran in this session yet: every result shown came from the cache, so there is nothing to time.")
if readable:
    loading = (
        f" ({loading_seconds:.1f} s of it waiting for the models to load, once per app start)"
        if loading_seconds > 0.05
        else ""
    )
    redrawn = "; the others were redrawn from cached results." if models_ran < readable else "."
    st.caption(
        f"This page run took {(time.perf_counter() - page_start) * 1000:.0f} ms{loading}; a model ran on {models_ran} of "
        f"{plural(readable, 'photo')}{redrawn}"
    )
