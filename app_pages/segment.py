"""Segment: photos in, clothing instances (Mask R-CNN) and garment cutouts (U-Net) out, timed live."""

from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from fashionseg import settings
from fashionseg.app_resources import garment_segmenter, instance_segmenter, model_or_error, show_error, trained
from fashionseg.images import ImageLoadError, load_image
from fashionseg.overlay import CLASS_COLOURS, draw_instances
from fashionseg.segment import (
    THESIS_BUDGET_SECONDS,
    TimingLog,
    escape_markdown,
    instance_rows,
    masks_zip,
    on_checkerboard,
    png_bytes,
    predictions_coco,
    run_key,
)
from fashionseg.vocabulary import FASHIONSEG11

PHOTO_TYPES = ["jpg", "jpeg", "png", "webp"]


# Streamlit reruns the page on every widget change; a photo already segmented with the same
# settings is taken from here, not run through the model again.
@st.cache_data(max_entries=64, show_spinner=False)
def segment_instances(model: str, data: bytes, min_confidence: float, max_instances: int, caps: tuple[tuple[str, int], ...]):
    return instance_segmenter(model).predict(data, min_confidence=min_confidence, max_instances=max_instances, max_per_class=dict(caps))


@st.cache_data(max_entries=64, show_spinner=False)
def cut_out(model: str, data: bytes, threshold: float, double_pass: bool):
    return garment_segmenter(model).predict(data, threshold=threshold, double_pass=double_pass)


def report_stages(pipeline: str, key: str, stage_seconds: dict[str, float]) -> list[dict]:
    """Writes each stage's time into the open status box, adds the run to the session's log."""
    for stage, seconds in stage_seconds.items():
        st.write(f"{stage}: {seconds * 1000:.0f} ms")
    timings.add(pipeline, key, sum(stage_seconds.values()))
    return [{"pipeline": pipeline, "stage": stage, "ms": seconds * 1000} for stage, seconds in stage_seconds.items()]


st.title("Segment")
maskrcnn_path, unet_path = trained("maskrcnn"), trained("unet")
for label, path in (("Instance segmentation (Mask R-CNN)", maskrcnn_path), ("Garment cutout (U-Net)", unet_path)):
    if path is None:
        st.info(f"{label}: no trained model yet. This page never shows the output of untrained weights.")
available = [name for name, path in (("Mask R-CNN", maskrcnn_path), ("U-Net cutout", unet_path)) if path is not None]
if not available:
    st.stop()

timings: TimingLog = st.session_state.setdefault("timings", TimingLog())

with st.sidebar:
    st.header("Pipeline")
    pipelines = st.multiselect("Run", available, default=available, help="Both run side by side.")
    # A broken model folder is reported (and its pipeline left out), not raised.
    if "Mask R-CNN" in pipelines and model_or_error(instance_segmenter, maskrcnn_path, "Mask R-CNN") is None:
        pipelines.remove("Mask R-CNN")
    if "U-Net cutout" in pipelines and model_or_error(garment_segmenter, unet_path, "U-Net") is None:
        pipelines.remove("U-Net cutout")
    if "Mask R-CNN" in pipelines:
        config = instance_segmenter(str(maskrcnn_path)).config
        st.subheader("Mask R-CNN")
        min_confidence = st.slider("Min confidence", 0.05, 1.0, float(config.DETECTION_MIN_CONFIDENCE), 0.05)
        max_instances = st.slider("Max instances", 1, config.DETECTION_MAX_INSTANCES, config.DETECTION_MAX_INSTANCES)
        capped = st.multiselect("Per-class cap for", FASHIONSEG11.names, default=list(config.DETECTION_MAX_PER_CLASS),
                                help="Thesis 5.5.1: at most N of a class per photo, the lowest scores dropped.")
        cap = st.number_input("Cap", 1, 10, int(next(iter(config.DETECTION_MAX_PER_CLASS.values()), 2)))
        opacity = st.slider("Mask opacity", 0.0, 1.0, 0.5, 0.05)
        show_boxes = st.toggle("Boxes and labels", value=True)
        with st.expander(f"Model {maskrcnn_path.name}: settings"):
            st.dataframe(pd.DataFrame(config.rows(), columns=["setting", "value"]), hide_index=True)
    if "U-Net cutout" in pipelines:
        st.subheader("U-Net")
        unet_config = garment_segmenter(str(unet_path)).config
        threshold = st.slider("Threshold", 0.05, 0.95, float(unet_config.threshold), 0.01)
        has_second = garment_segmenter(str(unet_path)).second_pass is not None
        double_pass = st.toggle("Double pass", value=False, disabled=not has_second,
                                help="The report's focus step: a second model on the photo around the first mask.")

source_tab, camera_tab, folder_tab = st.tabs(["Upload", "Camera", "Image folder"])
photos: list[tuple[str, bytes]] = []
with source_tab:
    uploads = st.file_uploader("Photos of people", type=PHOTO_TYPES, accept_multiple_files=True)
    photos += [(u.name, u.getvalue()) for u in uploads or []]
with camera_tab:
    shot = st.camera_input("Take a photo")
    if shot is not None:
        photos.append(("camera.jpg", shot.getvalue()))
with folder_tab:
    folder = Path(st.text_input("Folder", str(settings.ccp_root() / "photos")))
    files = sorted(p.name for p in folder.glob("*") if p.suffix.lower().lstrip(".") in PHOTO_TYPES) if folder.is_dir() else []
    if not files:
        st.caption("No photos in this folder.")
    chosen = st.multiselect("Photos", files, max_selections=8)
    photos += [(name, (folder / name).read_bytes()) for name in chosen]

if not photos or not pipelines:
    st.caption("Add a photo to start. Timings are per photo, from the encoded file to full-resolution masks.")
    st.stop()

for name, data in photos:
    st.divider()
    st.subheader(escape_markdown(name), anchor=False)
    try:
        image = load_image(data)
    except ImageLoadError as exc:
        show_error(exc, f"{name}: ")
        continue
    columns = st.columns(len(pipelines))
    stage_rows = []
    if "Mask R-CNN" in pipelines:
        with columns[pipelines.index("Mask R-CNN")], st.status("Mask R-CNN ...", expanded=False) as status:
            settings_used = (min_confidence, max_instances, tuple((c, int(cap)) for c in capped))
            result = segment_instances(str(maskrcnn_path), data, *settings_used)
            stage_rows += report_stages("Mask R-CNN", run_key(data, str(maskrcnn_path), *settings_used), result.timings)
            status.update(label=f"Mask R-CNN: {len(result.instances)} instances in {result.total_seconds * 1000:.0f} ms", state="complete")
        with columns[pipelines.index("Mask R-CNN")]:
            present = sorted({i.class_name for i in result.instances}, key=FASHIONSEG11.names.index)
            shown = st.multiselect("Classes", present, default=present, key=f"classes_{name}")
            visible = [i for i in result.instances if i.class_name in shown]
            overlay = draw_instances(image, [(i.class_name, i.score, i.box, i.mask) for i in visible], opacity, show_boxes, show_boxes)
            st.image(overlay, caption="Instances", width="stretch")
            if result.instances:
                table = pd.DataFrame(instance_rows(result))
                styled = table.style.format({"score": "{:.3f}", "area %": "{:.2f}"}).map(
                    lambda c: f"background-color: rgb{CLASS_COLOURS.get(c, (255, 255, 255))}; color: white", subset=["class"])
                st.dataframe(styled, hide_index=True)
            else:
                st.caption("No instance above the confidence threshold.")
            st.download_button("Predictions (COCO JSON)", predictions_coco(result, name), f"{Path(name).stem}_instances.json",
                               "application/json", key=f"coco_{name}")
            st.download_button("Masks (PNG, zip)", masks_zip(result, name), f"{Path(name).stem}_masks.zip", "application/zip",
                               key=f"zip_{name}")
    if "U-Net cutout" in pipelines:
        with columns[pipelines.index("U-Net cutout")], st.status("U-Net ...", expanded=False) as status:
            cut = cut_out(str(unet_path), data, threshold, double_pass)
            stage_rows += report_stages("U-Net cutout", run_key(data, str(unet_path), threshold, double_pass), cut.timings)
            status.update(label=f"U-Net: garment {cut.mask.mean():.0%} of the photo in {cut.total_seconds * 1000:.0f} ms", state="complete")
        with columns[pipelines.index("U-Net cutout")]:
            st.image(on_checkerboard(cut.cutout), caption="Cutout", width="stretch")
            st.download_button("Cutout (RGBA PNG)", png_bytes(cut.cutout), f"{Path(name).stem}_cutout.png", "image/png", key=f"cut_{name}")
    chart = px.bar(pd.DataFrame(stage_rows), x="ms", y="pipeline", color="stage", orientation="h", height=180,
                   title="Time per stage (ms)")
    chart.update_layout(margin=dict(l=0, r=0, t=30, b=0))
    st.plotly_chart(chart, key=f"chart_{name}")

timed = [pipeline for pipeline in pipelines if timings.count(pipeline)]
if timed:  # nothing to average while every photo so far was refused
    st.divider()
    st.subheader("This session", anchor=False)
    for column, pipeline in zip(st.columns(len(timed)), timed):
        mean = timings.mean(pipeline)
        column.metric(f"{pipeline}: mean of {timings.count(pipeline)} photos", f"{mean * 1000:.0f} ms",
                      f"{(THESIS_BUDGET_SECONDS - mean) * 1000:.0f} ms under the thesis' 2 s budget" if mean <= THESIS_BUDGET_SECONDS
                      else f"{(mean - THESIS_BUDGET_SECONDS) * 1000:.0f} ms over the 2 s budget",
                      delta_color="normal" if mean <= THESIS_BUDGET_SECONDS else "inverse")
