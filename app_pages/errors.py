"""Errors: the false positives, false negatives and confusions of an evaluation, as a gallery; each opens
in a dialog with the whole photo, a way to it in Annotate, and a flag for a ground-truth mistake."""

import pandas as pd
import streamlit as st

from fashionseg import settings
from fashionseg.annotation.review import flag_ground_truth, flags, locate_photo
from fashionseg.app import error_browser as errors
from fashionseg.app.experiments_view import default_record, run_ids
from fashionseg.app.resources import annotation_store, show_error
from fashionseg.app.segment_view import escape_markdown
from fashionseg.core.vocabulary import FASHIONSEG11
from fashionseg.evaluation.registry import list_records
from fashionseg.exceptions import FashionSegError

PAGE_SIZE = 12
SORTS = {
    "score (highest first)": ("score", True),
    "score (lowest first)": ("score", False),
    "IoU (highest first)": ("iou", True),
    "IoU (lowest first)": ("iou", False),
}

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
    labels = run_ids(records)
    chosen = st.selectbox(
        "Evaluation",
        range(len(records)),
        index=default_record(records),
        format_func=labels.__getitem__,
        help="First shown: the newest evaluation of the app's default model.",
    )
    record = records[chosen]
    images_dir = st.text_input("Photos folder", str(errors.photos_folder(record["data"].get("images"))))
    ground_truth = st.text_input(
        "Ground-truth COCO file",
        record["data"].get("test", ""),
        help="Its masks are drawn when the file is here; otherwise the ground truth's boxes.",
    )


# Every widget change reruns the page; drawing a view reads the photo and decodes all its masks
# (12 views took 1.0 s), so each pair is drawn once.
@st.cache_data(max_entries=512, show_spinner=False)
def views_of(
    path: str,
    images_dir: str,
    ground_truth: str,
    image_id: int,
    gt_index: int | None,
    pred_index: int | None,
    crop: bool = True,
):
    row = {"image_id": image_id, "gt_index": gt_index, "pred_index": pred_index}
    return errors.error_views(evaluation_of(path, images_dir, ground_truth), row, crop=crop)


def views(row, crop: bool = True):
    indices = (None if pd.isna(row[k]) else int(row[k]) for k in ("gt_index", "pred_index"))
    return views_of(record["path"], images_dir, ground_truth, int(row["image_id"]), *indices, crop=crop)


try:
    evaluation = evaluation_of(record["path"], images_dir, ground_truth)
except (FileNotFoundError, ValueError, KeyError) as exc:
    st.error(escape_markdown(f"Cannot read this evaluation: {exc}"))
    st.stop()
if evaluation.ground_truth is None:
    st.info(
        escape_markdown(
            f"Ground truth is drawn as boxes: its masks are in the test COCO file ({ground_truth or 'not recorded'}), "
            "which is not on this machine."
        )
        + " Make it with `fashionseg convert ccp ../shared/datasets/ccp --out "
        "data/ccp` (about 20 s; importing the sample data in Annotate does the same), or give its path in the sidebar."
    )


def describe(row) -> str:
    what = errors.ERROR_LABELS[row["type"]]
    if row["type"] == "confusion":
        return f"{what}: {row['class']} taken for {row['predicted']}"
    return f"{what}: {row['predicted'] if row['type'] == 'false_positive' else row['class']}"


def photo_in_store(file_name: str):
    """``(store, data set, image)`` holding this photo, or None: opening and flagging need it in a data set."""
    try:
        store = annotation_store(settings.store_location())
        found = locate_photo(store, file_name, evaluation.images_dir)
    except FashionSegError:
        return None
    return None if found is None else (store, *found)


def close_dialog() -> None:
    st.session_state.pop("error_dialog", None)


# Open until dismissed (not only on the run its button was clicked in), so its own widgets work on any rerun.
@st.dialog("Full photo", width="large", on_dismiss=close_dialog)
def full_photo(row) -> None:
    photo = evaluation.image(int(row["image_id"]))
    st.markdown(escape_markdown(f"{row['file_name']}: {describe(row)}"))
    st.caption(
        f"Whole photo: AP@50 {photo.get('ap50', float('nan')):.2f} · F1 {photo.get('f1', float('nan')):.2f} · "
        f"true {', '.join(FASHIONSEG11.name_of(c) for c in photo.get('true_classes', []))} · "
        f"predicted {', '.join(FASHIONSEG11.name_of(c) for c in photo.get('predicted_classes', []))}"
    )
    store_actions(row)  # above the photos, so they need no scrolling
    truth, prediction = views(row, crop=False)
    left, right = st.columns(2)
    left.image(truth, caption="ground truth", width=420)
    right.image(prediction, caption="prediction", width=420)


def store_actions(row) -> None:
    found = photo_in_store(row["file_name"])
    if found is None:
        st.info(
            "This photo is in no data set of the annotation store, so it cannot be opened or flagged there yet. "
            "Import the test set in Annotate (*New data set → Sample data → CCP's pixel-level photos*), then come back."
        )
        return
    store, dataset, image = found
    open_col, flag_col = st.columns([1, 3], vertical_alignment="bottom")
    if open_col.button(
        "Open in Annotate", key="open-in-annotate", help=f"Data set {dataset}: correct the ground truth there."
    ):
        st.session_state["annotate_open"] = (dataset, image.id)
        close_dialog()  # not open again on coming back
        st.switch_page("app_pages/annotate.py")
    with flag_col.form("flag", border=False):
        note_col, name_col, submit_col = st.columns([3, 2, 1.4], vertical_alignment="bottom")
        note = note_col.text_input(
            "What is wrong with the ground truth?", placeholder="e.g. the dress is not annotated"
        )
        name = name_col.text_input("Your name", value=st.session_state.get("annotator_name", ""))
        if submit_col.form_submit_button("Flag it"):
            try:
                flag_ground_truth(store, image.id, name, note, {"evaluation": labels[chosen], "error": describe(row)})
            except FashionSegError as exc:
                show_error(exc)
            else:
                st.session_state["annotator_name"] = name.strip()
                st.success(escape_markdown(f"Flagged in data set {dataset}; Annotate lists the flags in its sidebar."))
    earlier = flags(store, dataset, image.id)
    if earlier:
        st.caption(escape_markdown("Flagged: " + "; ".join(f"{f['note']} ({f['author']})" for f in earlier)))


table = errors.error_table(evaluation)
st.caption(
    f"{len(evaluation.per_image)} photos, {len(table)} errors at mask IoU 0.5. A confusion is a prediction of another class "
    "on a true instance (IoU >= 0.5); a false positive matches no true instance of its class; a false negative is missed."
)
with st.expander("Errors per class", expanded=False):
    st.dataframe(errors.summary(table), hide_index=True)

filters = st.columns([3, 3, 2])
classes = filters[0].multiselect("Class (true or predicted)", FASHIONSEG11.names)
types = filters[1].multiselect(
    "Error type", list(errors.ERROR_TYPES), default=list(errors.ERROR_TYPES), format_func=errors.ERROR_LABELS.get
)
sort_by, descending = SORTS[filters[2].selectbox("Sort by", list(SORTS))]
shown = errors.filter_errors(table, classes, types, sort_by, descending)
if shown.empty:
    st.info("No error matches these filters.")
    st.stop()
pages = (len(shown) - 1) // PAGE_SIZE + 1
page = st.number_input(f"Page (of {pages}; {len(shown)} errors)", 1, pages, 1) - 1

for start in range(page * PAGE_SIZE, min(len(shown), (page + 1) * PAGE_SIZE), 3):
    columns = st.columns(3)
    for column, (_, row) in zip(columns, shown.iloc[start : start + 3].iterrows()):
        with column.container(border=True):
            try:
                truth, prediction = views(row)
            except (OSError, ValueError) as exc:
                st.warning(escape_markdown(f"{row['file_name']}: {exc}"))
                continue
            left, right = st.columns(2)
            left.image(truth, caption="ground truth", width="stretch")
            right.image(prediction, caption="prediction", width="stretch")
            numbers = [f"IoU {row['iou']:.2f}"] + (
                [f"score {row['score']:.2f}"] if row["score"] == row["score"] else []
            )
            st.caption(escape_markdown(f"{row['file_name']} · {describe(row)} · {' · '.join(numbers)}"))
            st.button(
                "Full photo",
                key=f"open-{row['image_id']}-{row['error']}",
                help="The whole photo in front of the gallery; from there, open it in Annotate or flag its ground truth.",
                on_click=st.session_state.__setitem__,
                args=("error_dialog", (int(row["image_id"]), int(row["error"]))),
            )

opened = st.session_state.get("error_dialog")
if opened is not None:
    match = table[(table["image_id"] == opened[0]) & (table["error"] == opened[1])]
    if match.empty:  # another evaluation was chosen meanwhile
        close_dialog()
    else:
        full_photo(match.iloc[0])
