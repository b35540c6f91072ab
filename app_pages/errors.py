"""Errors: the false positives, false negatives and confusions of an evaluation, as a gallery."""

import pandas as pd
import streamlit as st

from fashionseg import errors
from fashionseg.experiments import list_records
from fashionseg.segment import escape_markdown
from fashionseg.vocabulary import FASHIONSEG11

PAGE_SIZE = 12
SORTS = {"score (highest first)": ("score", True), "score (lowest first)": ("score", False),
         "IoU (highest first)": ("iou", True), "IoU (lowest first)": ("iou", False)}

st.title("Errors")
records = [r for r in list_records("maskrcnn") if r.get("data", {}).get("metrics_file")]
if not records:
    st.info("No Mask R-CNN evaluation with per-photo results yet: run `fashionseg evaluate maskrcnn`.")
    st.stop()


@st.cache_data(show_spinner="Reading the evaluation ...")
def evaluation_of(path: str, images_dir: str, ground_truth: str):
    record = next(r for r in records if r["path"] == path)
    return errors.load_evaluation(record, images_dir or None, ground_truth or None)


with st.sidebar:
    chosen = st.selectbox("Evaluation", range(len(records)), index=len(records) - 1,
                          format_func=lambda k: f"{records[k]['run']} · {records[k].get('evaluated_at', '')}")
    record = records[chosen]
    images_dir = st.text_input("Photos folder", str(errors.photos_folder(record["data"].get("images"))))
    ground_truth = st.text_input("Ground-truth COCO file", record["data"].get("test", ""),
                                 help="Its masks are drawn when the file is here; otherwise the ground truth's boxes.")
# Every widget change reruns the page; drawing a view reads the photo and decodes all its masks
# (12 views took 1.0 s), so each pair is drawn once.
@st.cache_data(max_entries=512, show_spinner=False)
def views_of(path: str, images_dir: str, ground_truth: str, image_id: int, gt_index: int | None, pred_index: int | None,
             crop: bool = True):
    row = {"image_id": image_id, "gt_index": gt_index, "pred_index": pred_index}
    return errors.error_views(evaluation_of(path, images_dir, ground_truth), row, crop=crop)


def views(row, crop: bool = True):
    indices = (None if pd.isna(row[k]) else int(row[k]) for k in ("gt_index", "pred_index"))
    return views_of(record["path"], images_dir, ground_truth, int(row["image_id"]), *indices, crop=crop)


try:
    evaluation = evaluation_of(record["path"], images_dir, ground_truth)
except (FileNotFoundError, ValueError, KeyError) as exc:
    st.error(f"Cannot read this evaluation: {exc}")
    st.stop()
if evaluation.ground_truth is None:
    st.caption("Ground-truth masks not at hand: ground truth drawn as boxes.")

table = errors.error_table(evaluation)
st.caption(f"{len(evaluation.per_image)} photos, {len(table)} errors at mask IoU 0.5. A confusion is a prediction of another class "
           "on a true instance (IoU >= 0.5); a false positive matches no true instance of its class; a false negative is missed.")
with st.expander("Errors per class", expanded=False):
    st.dataframe(errors.summary(table), hide_index=True)

filters = st.columns([3, 3, 2])
classes = filters[0].multiselect("Class (true or predicted)", FASHIONSEG11.names)
types = filters[1].multiselect("Error type", list(errors.ERROR_TYPES), default=list(errors.ERROR_TYPES),
                               format_func=errors.ERROR_LABELS.get)
sort_by, descending = SORTS[filters[2].selectbox("Sort by", list(SORTS))]
shown = errors.filter_errors(table, classes, types, sort_by, descending)
if shown.empty:
    st.info("No error matches these filters.")
    st.stop()
pages = (len(shown) - 1) // PAGE_SIZE + 1
page = st.number_input(f"Page (of {pages}; {len(shown)} errors)", 1, pages, 1) - 1
selected = st.session_state.get("error_selected")

for start in range(page * PAGE_SIZE, min(len(shown), (page + 1) * PAGE_SIZE), 3):
    columns = st.columns(3)
    for column, (_, row) in zip(columns, shown.iloc[start:start + 3].iterrows()):
        with column.container(border=True):
            try:
                truth, prediction = views(row)
            except (OSError, ValueError) as exc:
                st.warning(escape_markdown(f"{row['file_name']}: {exc}"))
                continue
            left, right = st.columns(2)
            left.image(truth, caption="ground truth", width="stretch")
            right.image(prediction, caption="prediction", width="stretch")
            what = errors.ERROR_LABELS[row["type"]]
            if row["type"] == "confusion":
                what += f": {row['class']} taken for {row['predicted']}"
            else:
                what += f": {row['predicted'] if row['type'] == 'false_positive' else row['class']}"
            numbers = [f"IoU {row['iou']:.2f}"] + ([f"score {row['score']:.2f}"] if row["score"] == row["score"] else [])
            st.caption(escape_markdown(f"{row['file_name']} · {what} · {' · '.join(numbers)}"))
            if st.button("Full photo", key=f"open-{row['image_id']}-{row['error']}"):
                st.session_state["error_selected"] = (int(row["image_id"]), int(row["error"]))
                selected = st.session_state["error_selected"]

if selected is not None:
    match = table[(table["image_id"] == selected[0]) & (table["error"] == selected[1])]
    if not match.empty:
        row = match.iloc[0]
        st.divider()
        st.subheader(escape_markdown(f"{row['file_name']}: {errors.ERROR_LABELS[row['type']]}"), anchor=False)
        truth, prediction = views(row, crop=False)
        left, right = st.columns(2)
        left.image(truth, caption="ground truth", width="stretch")
        right.image(prediction, caption="prediction", width="stretch")
        photo = evaluation.image(int(row["image_id"]))
        st.caption(f"Whole photo: AP@50 {photo.get('ap50', float('nan')):.2f} · F1 {photo.get('f1', float('nan')):.2f} · "
                   f"true {', '.join(FASHIONSEG11.name_of(c) for c in photo.get('true_classes', []))} · "
                   f"predicted {', '.join(FASHIONSEG11.name_of(c) for c in photo.get('predicted_classes', []))}")
