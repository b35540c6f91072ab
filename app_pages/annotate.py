"""Annotate: import photos, review them (masks and client labels), pre-annotate, export. Widgets only:
the work is in fashionseg.app.annotation_session (AnnotationSession), fashionseg.annotation (Draft, pre-annotation, flags), fashionseg.store.photo_import and the store."""

import pandas as pd
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from fashionseg import settings
from fashionseg.annotation.canvas import CanvasDrawingError, CanvasFrame
from fashionseg.annotation.draft import Draft, instance_names
from fashionseg.annotation.preannotation import preannotate
from fashionseg.annotation.review import conflict_text, flags, reviewed_only, when
from fashionseg.app.annotation_session import (
    DROPPED,
    AnnotationSession,
    LabelRow,
    added_label_rows,
    brush_colour,
    canvas_background,
    label_rows,
    rule_from_counts,
    save_label_rows,
)
from fashionseg.app.resources import instance_segmenter, model_or_error, show_error, store_or_stop, trained
from fashionseg.app.segment_view import escape_markdown
from fashionseg.core.coco import dumps_coco, file_name_problem
from fashionseg.core.images import ImageLoadError, load_image
from fashionseg.core.mapping import load_mapping, mapping_table
from fashionseg.exceptions import FashionSegError
from fashionseg.store import ConflictError, StoreError, export_coco
from fashionseg.store.photo_import import (
    PHOTO_SUFFIXES,
    SAMPLES,
    import_coco_upload,
    import_folder,
    import_sample,
    import_uploads,
    sample_available,
)

TOOLS = {"Polygon": "polygon", "Rectangle": "rect", "Freehand": "freedraw"}
NEW_INSTANCE = -1

st.title("Annotate")
# Widget values are dropped when another page runs: the name lives on under a key of its own.
if "annotator" not in st.session_state and st.session_state.get("annotator_name"):
    st.session_state["annotator"] = st.session_state["annotator_name"]
store_path = settings.store_location()
store = store_or_stop(store_path)
datasets = store.datasets()
maskrcnn_path = trained("maskrcnn")


def say(kind: str, text: str) -> None:
    """A message for the next page run: a callback runs before the page, so it cannot place its own."""
    st.session_state.setdefault("annotate_messages", []).append((kind, text))


def show_messages() -> None:
    for kind, text in st.session_state.pop("annotate_messages", []):
        {"error": st.error, "success": st.success, "warning": st.warning}[kind](escape_markdown(text))


def run_preannotation(dataset: str, bar) -> None:
    segmenter = model_or_error(instance_segmenter, maskrcnn_path, "Mask R-CNN")
    if segmenter is None:
        return

    def show_progress(n: int, count: int, name: str) -> None:
        bar.progress(n / count if count else 1.0, text=escape_markdown(f"pre-annotating: {n} of {count} {name}"))

    try:
        report = preannotate(store, dataset, segmenter, model_name=maskrcnn_path.name, on_progress=show_progress)
    except FashionSegError as exc:  # the store busy for too long, say
        show_error(exc)
        return
    say("success", report.summary())
    for line in report.failed[:10]:
        say("warning", line)


def import_panel(author: str, where: str) -> None:
    """The ways to a new data set, each through the store's checks, with a progress bar."""
    sources = ["Sample data", "Upload photos", "Folder on this machine", "COCO file"]
    source = st.radio(
        "Import from", sources, horizontal=True, key=f"import-source-{where}", index=0 if sample_available() else 1
    )
    request = None  # (kind, default name, importer(name, author, on_progress))
    if source == "Sample data":
        if sample_available():
            sample = st.radio("Sample", SAMPLES, format_func=lambda s: s.description, key=f"sample-{where}")
            request = (
                "sample",
                sample.name,
                lambda name, who, progress: import_sample(store, sample, name, who, progress),
            )
        else:
            st.info(
                f"The sample data is made from the CCP data set, which is not at {escape_markdown(str(settings.ccp_root()))} "
                "on this machine (set FASHIONSEG_CCP_ROOT to its folder). Upload your own photos instead."
            )
    elif source == "Upload photos":
        uploads = st.file_uploader(
            f"Photos ({', '.join(s.lstrip('.') for s in PHOTO_SUFFIXES)}) or zips of photos",
            type=[s.lstrip(".") for s in PHOTO_SUFFIXES] + ["zip"],
            accept_multiple_files=True,
            key=f"upload-{where}",
            help="Copied to the uploads folder "
            f"({escape_markdown(str(settings.uploads_dir()))}): the store refers to the photos there.",
        )
        if uploads:
            files = [(u.name, u.getvalue()) for u in uploads]
            request = (
                "upload",
                "photos",
                lambda name, who, progress: import_uploads(store, files, name, who, progress),
            )
    elif source == "Folder on this machine":
        folder = st.text_input(
            "Folder",
            key=f"folder-{where}",
            placeholder="/path/to/photos",
            help="Every photo in it and its subfolders; they stay where they are.",
        )
        if folder.strip():
            request = (
                "folder",
                "photos",
                lambda name, who, progress: import_folder(store, folder.strip(), name, who, progress),
            )
    else:
        coco = st.file_uploader("COCO JSON", type=["json"], key=f"coco-{where}")
        image_dir = st.text_input(
            "Images folder",
            key=f"coco-dir-{where}",
            help="The folder on this machine that the file's file_name values are relative to.",
        )
        if coco is not None:
            data, coco_name = coco.getvalue(), coco.name
            request = (
                "coco",
                coco_name.rsplit(".", 1)[0],
                lambda name, who, progress: import_coco_upload(store, data, coco_name, image_dir, name, who, progress),
            )
    kind, default_name, importer = request or (None, "", None)
    name = st.text_input(
        "Data set name", value=default_name if default_name not in datasets else "", key=f"import-name-{where}-{kind}"
    )
    preannotate_after = st.checkbox(
        "Pre-annotate with the model after the import",
        value=False,
        key=f"import-pre-{where}",
        disabled=maskrcnn_path is None,
        help="Saves the model's instances as unreviewed annotations on every photo without any "
        "(about 0.1 s a photo), so annotators correct rather than draw."
        if maskrcnn_path
        else "No trained Mask R-CNN.",
    )
    if st.button("Import", type="primary", key=f"import-{where}", disabled=importer is None):
        bar = st.progress(0.0, text="starting ...")

        def progress(stage: str, done: int, total: int) -> None:
            bar.progress(min(1.0, done / total) if total else 0.0, text=escape_markdown(f"{stage}: {done} of {total}"))

        try:
            importer(name.strip(), author or "import", progress)
        except FashionSegError as exc:
            bar.empty()
            show_error(exc, "Nothing was imported: ")
            return
        say("success", f"Imported the data set {name.strip()}.")
        if preannotate_after:
            run_preannotation(name.strip(), bar)
        st.session_state["annotate_dataset"] = name.strip()
        st.session_state.pop("import_dialog", None)
        st.rerun()


if not datasets:
    st.info(
        f"The annotation store ({store.location}) has no data set yet. Start one here: the sample data, your own photos "
        "(an upload, a zip or a folder) or a COCO file. Everything is checked before anything is stored."
    )
    author = st.text_input(
        "Annotator", key="annotator", placeholder="your name", help="Every change in the store names its author."
    ).strip()
    show_messages()
    import_panel(author, "main")
    st.stop()

with st.sidebar:
    if st.session_state.get("annotate_open"):
        st.session_state["annotate_dataset"] = st.session_state["annotate_open"][0]
    if st.session_state.get("annotate_dataset") not in datasets:
        st.session_state["annotate_dataset"] = datasets[0]
    dataset = st.selectbox("Data set", datasets, key="annotate_dataset")
    author = st.text_input(
        "Annotator", key="annotator", placeholder="your name", help="Every change in the store names its author."
    ).strip()
    done, total = store.review_progress(dataset)
    st.progress(done / total if total else 0.0, text=f"{done} of {total} reviewed")
    only_unreviewed = st.toggle(
        "Only images still to review",
        value=True,
        help="Images you save in this session stay in the list, so you can go back to them.",
    )

st.session_state["annotator_name"] = author
session: AnnotationSession = st.session_state.get("annotate_session")
if session is None or session.dataset != dataset:
    session = st.session_state["annotate_session"] = AnnotationSession(dataset)
opened = st.session_state.pop("annotate_open", None)  # (data set, image id) from "Open in Annotate" on the Errors page
if opened is not None and opened[0] == dataset:
    session.open(opened[1])
classes = list(store.categories(dataset).values())
queue = session.queue(store, only_unreviewed)

with st.sidebar:
    with st.expander("Pre-annotate with the model"):
        if maskrcnn_path is None:
            st.caption("No trained Mask R-CNN: images start empty.")
        else:
            st.caption(
                f"Saves {maskrcnn_path.name}'s instances on every unreviewed image without annotations, "
                "so nobody waits for the model per image. Same as `fashionseg store preannotate`."
            )
            if st.button("Pre-annotate the data set"):
                run_preannotation(dataset, st.progress(0.0, text="loading the model ..."))
                show_messages()
    st.button(
        "New data set ...",
        on_click=st.session_state.__setitem__,
        args=("import_dialog", True),
        help="Import the sample data, your photos (upload, zip or folder) or a COCO file.",
    )
    with st.expander("Export"):
        st.caption(f"COCO JSON with masks as RLE; {done} of {total} images reviewed.")
        reviewed_col, all_col = st.columns(2)
        for column, label, only in ((reviewed_col, "Reviewed only", True), (all_col, "All images", False)):
            if column.button(
                label,
                key=f"export-{only}",
                help="Only images saved as reviewed, with their annotations"
                if only
                else "Every image, reviewed or not",
            ):
                try:
                    document = export_coco(store, dataset)
                except FashionSegError as exc:
                    show_error(exc)
                else:
                    document = reviewed_only(document) if only else document
                    st.session_state["export"] = (dataset, only, len(document["images"]), dumps_coco(document))
        built = st.session_state.get("export")
        if built and built[0] == dataset:
            _, only, count, text = built
            suffix = "reviewed" if only else "all"
            st.download_button(
                f"Download {count} images ({suffix})",
                text,
                f"{dataset}-{suffix}.json",
                "application/json",
                key="export-download",
                on_click="ignore",  # a download needs no rerun (a rerun mid-download could lose it)
            )
    flagged = flags(store, dataset)
    if flagged:
        with st.expander(f"Ground-truth flags ({len(flagged)})"):
            st.dataframe(pd.DataFrame(flagged)[["file_name", "author", "at", "note"]], hide_index=True)


def close_import() -> None:
    st.session_state.pop("import_dialog", None)


# A dialog, not an expander: an expander's contents run on every page run, collapsed or not.
@st.dialog("New data set", width="large", on_dismiss=close_import)
def import_dialog() -> None:
    import_panel(author, "dialog")


if st.session_state.get("import_dialog"):
    import_dialog()
show_messages()
if not queue:
    st.success("Every image of this data set is reviewed. Turn off *Only images still to review* to see them again.")
    st.stop()

# ---------------------------------------------------------------- which image

position = session.position(queue)


def move(by: int) -> None:
    session.step(session.queue(store, only_unreviewed), by)


def undo_image(image_id: int) -> None:
    try:
        session.undo(store, image_id, author)
    except ConflictError:
        say(
            "error",
            conflict_text(store, store.image(image_id)) + "; nothing was undone. Undo again to undo their change.",
        )
    except StoreError as exc:
        say("error", str(exc))


previous, picker, following = st.columns([1.3, 6, 1.3], vertical_alignment="bottom")
# Moving and saving act in the page run and then rerun it, and have no keyboard shortcuts: with on_click callbacks
# or with Streamlit's button shortcuts, quick clicks and key presses were dropped now and then in `fashionseg bench
# app` (while the canvas's own rerun, sent once its background is drawn, was under way); this way none were.
if previous.button("Previous", disabled=position == 0, help="The image before this one."):
    move(-1)
    st.rerun()
if following.button("Next", disabled=position >= len(queue) - 1, help="The image after this one."):
    move(1)
    st.rerun()
names = {im.id: f"{k + 1}. {im.file_name}" + (" (reviewed)" if im.reviewed else "") for k, im in enumerate(queue)}
# Unkeyed, with the position as its default: a new widget whenever the image changes, so a value the browser
# sends for the previous one (from a rerun it started before this run reached it) never moves back.
chosen = picker.selectbox(
    f"Image ({len(queue)} in the list)", list(names), index=position, format_func=names.__getitem__
)
if chosen != queue[position].id:
    session.go(chosen)
    position = list(names).index(chosen)
image = queue[position]  # read from the store this run

saved = session.last_saved
if saved is not None and saved.image_id != image.id:
    note, undo_col, back_col = st.columns([4, 1, 1], vertical_alignment="center")
    note.caption(escape_markdown(f"Saved {saved.file_name} (revision {saved.revision})."))
    undo_col.button(
        "Undo that save", key="undo-last-saved", disabled=not author, on_click=undo_image, args=(saved.image_id,)
    )
    back_col.button("Back to it", key="back-to-saved", on_click=session.go, args=(saved.image_id,))

if file_name_problem(image.file_name):  # a row stored before imports refused such names: never read outside the folder
    st.error(escape_markdown(f"{image.file_name}: {file_name_problem(image.file_name)}"))
    st.stop()
try:
    photo = load_image(image.path)
except (ImageLoadError, OSError) as exc:
    st.error(escape_markdown(f"{image.file_name}: {exc}"))
    st.stop()
if photo.shape[:2] != (image.height, image.width):
    st.error(
        f"The photo decodes to {photo.shape[1]} x {photo.shape[0]}, the store records {image.width} x {image.height}; "
        "it cannot be annotated until the two agree."
    )
    st.stop()


def predicted(record) -> Draft | None:
    """The model's instances for an image nobody annotated (None without a usable model)."""
    segmenter = model_or_error(instance_segmenter, maskrcnn_path, "Mask R-CNN") if maskrcnn_path else None
    return None if segmenter is None else Draft.from_prediction(record, segmenter.predict(photo), classes)


serial, draft = session.draft(store, image, predicted)
if session.conflict(image):
    st.error(
        escape_markdown(conflict_text(store, image)) + ". Your edits are kept here: load their version, or keep yours "
        "and save it over theirs."
    )
    theirs, mine = st.columns(2)
    theirs.button("Load the saved version (drops your edits)", on_click=session.discard, args=(image.id,))
    mine.button("Keep my version (the next save replaces theirs)", on_click=session.keep_mine, args=(image,))

state = "reviewed" if image.reviewed else "not reviewed yet"
st.caption(
    escape_markdown(
        f"{image.file_name} · {image.width} x {image.height} · revision {image.revision} · {state}"
        + (" · unsaved edits" if draft.changed else "")
    )
)
# One view at a time, not tabs: every tab's contents are built and sent on every run (the mapping's and the
# history's tables too), which an annotator going from image to image waits for.
view = st.radio(
    "View",
    ["Masks", "Labels", "Label mapping", "History"],
    horizontal=True,
    key="annotate_view",
    label_visibility="collapsed",
)

if view == "Masks":
    if draft.source == "model":
        st.info("Pre-annotation: the model's instances, not saved yet. Keep, drop, relabel or redraw them, then save.")
    left, right = st.columns([3, 2])
    labels = instance_names(draft.instances)
    with right:
        st.markdown("**Instances**")
        for k, instance in enumerate(draft.instances):
            keep_col, class_col = st.columns([2, 3], vertical_alignment="center")
            draft.set_keep(k, keep_col.checkbox(labels[k], value=instance.keep, key=f"keep-{serial}-{k}"))
            draft.relabel(
                k,
                class_col.selectbox(
                    f"Class of {labels[k]}",
                    classes,
                    index=classes.index(instance.class_name),
                    key=f"class-{serial}-{k}",
                    label_visibility="collapsed",
                ),
            )
            score = "" if instance.score is None else f" · score {instance.score:.2f}"
            st.caption(f"{instance.origin}{score} · {instance.area} px")
        if not draft.instances:
            st.caption("No instance yet: draw one.")
        labels = instance_names(draft.instances)  # after relabelling
        target = st.selectbox(
            "Draw on",
            [NEW_INSTANCE, *range(len(draft.instances))],
            format_func=lambda k: "a new instance" if k == NEW_INSTANCE else labels[k],
            key=f"target-{serial}",
        )
        new_class = st.selectbox(
            "New instance's class", classes, key=f"new-class-{serial}", disabled=target != NEW_INSTANCE
        )
        tool = st.radio(
            "Tool",
            list(TOOLS),
            horizontal=True,
            help="Polygon: click the corners, then the first one again to close it.",
        )
        erase = st.toggle("Erase", help="Shapes drawn now are taken away from the instance.")
        brush = st.slider("Brush width", 2, 60, 16, disabled=tool != "Freehand")
    selected = None if target == NEW_INSTANCE else target
    drawing_class = new_class if selected is None else draft.instances[selected].class_name
    frame = CanvasFrame.fit(image.height, image.width, max_width=640, max_height=760)
    with left:
        colour = brush_colour(drawing_class, erase)
        canvas = st_canvas(
            fill_color=colour,
            stroke_color=colour,
            stroke_width=brush if tool == "Freehand" else 2,
            background_image=canvas_background(photo, draft, selected, frame),
            height=frame.canvas_height,
            width=frame.canvas_width,
            drawing_mode=TOOLS[tool],
            key=session.canvas_key(image.id),
        )
    objects = (canvas.json_data or {}).get("objects", [])

    # A drawing already applied is never applied again (a second click before the page caught up).
    def apply_drawing(
        image_id: int, canvas_key: str, objects: list, selected: int | None, new_class: str, frame: CanvasFrame
    ) -> bool:
        if canvas_key != session.canvas_key(image_id):
            return True  # applied already (a second click before the page caught up): never twice
        try:
            session.drafts[image_id].draw(selected, objects, frame, new_class)
        except CanvasDrawingError as exc:
            say("error", f"Could not use the drawing: {exc}")
            return False
        session.drawing_applied(image_id)
        return True

    def save_image(
        image_id: int, canvas_key: str, objects: list, selected: int | None, new_class: str, frame: CanvasFrame
    ) -> None:
        if objects and not apply_drawing(image_id, canvas_key, objects, selected, new_class, frame):
            return
        try:
            record = store.image(image_id)  # inside: an unreachable store is said, and the draft kept
            session.save(store, record, author, session.queue(store, only_unreviewed))
        except ConflictError:
            say("error", conflict_text(store, record) + ". Your edits were not saved and are still here.")
        except StoreError as exc:
            say("error", str(exc))

    drawing = (image.id, session.canvas_key(image.id), objects, selected, new_class, frame)
    apply_col, save_col, undo_col, reset_col = st.columns([2, 3, 2, 2])
    if apply_col.button(f"Apply drawing ({len(objects)})", disabled=not objects):
        apply_drawing(*drawing)
        st.rerun()
    if save_col.button(
        "Save and mark reviewed",
        type="primary",
        disabled=not author,
        help="Saves what is shown (drawings not applied yet included) and opens the next image.",
    ):
        save_image(*drawing)
        st.rerun()
    undo_col.button(
        "Undo last change",
        disabled=not author or image.revision == 0,
        on_click=undo_image,
        args=(image.id,),
        help="Reverts this image's latest change in the store (yours or anyone's); undo again to go further back.",
    )
    reset_col.button("Discard edits", disabled=not draft.changed, on_click=session.discard, args=(image.id,))
    if not author:
        st.caption("Enter your name in the sidebar to save.")

mapping = store.get_mapping(dataset)
if view == "Labels":
    st.markdown("The client's labels on this photo and the classes they count as.")
    rows = label_rows(store, dataset, image.id)
    edited = []
    for k, row in enumerate(rows):
        raw_col, class_col, count_col = st.columns([2, 3, 1], vertical_alignment="center")
        raw_col.text(row.raw_label)  # st.text never renders markup
        options = [DROPPED, *classes]
        picked = class_col.selectbox(
            f"Class for {row.raw_label}",
            options,
            index=options.index(row.class_name or DROPPED),
            key=f"label-class-{image.id}-{image.revision}-{k}",
            label_visibility="collapsed",
        )
        count = count_col.number_input(
            "Count", 0, 20, row.count, key=f"label-count-{image.id}-{image.revision}-{k}", label_visibility="collapsed"
        )
        edited.append(LabelRow(row.raw_label, None if picked == DROPPED else picked, int(count)))
    with st.expander("Add a label"):
        new_raw = st.text_input("Client label", key=f"new-raw-{image.id}-{image.revision}")
        known = mapping is not None and new_raw.strip() in mapping.rules
        new_label_class = st.selectbox(
            "Class",
            [DROPPED, *classes],
            index=None,
            key=f"new-label-class-{image.id}-{image.revision}",
            placeholder="the mapping's classes" if known else "choose the class",
            help="A label the data set's mapping knows gets the mapping's classes unless you "
            "choose one; an unknown word needs its class chosen.",
        )
        new_count = st.number_input(
            "Count", 1, 20, 1, key=f"new-count-{image.id}-{image.revision}", disabled=new_label_class in (None, DROPPED)
        )
        added, pending = added_label_rows(mapping, new_raw, new_label_class, new_count)
        if known and new_label_class is None:
            st.caption(
                escape_markdown(
                    "The mapping counts it as "
                    + ", ".join(f"{n} × {c}" for c, n in mapping.label_counts(new_raw.strip()))
                    if any(c for c, _ in mapping.label_counts(new_raw.strip()))
                    else "The mapping drops it."
                )
            )
        if pending:
            st.warning(escape_markdown(pending))
        edited += added
    if st.button("Save labels", disabled=not author or edited == rows or bool(pending)):
        try:
            revision = save_label_rows(store, dataset, image, edited, author)
        except ConflictError:
            st.error(escape_markdown(conflict_text(store, image)) + ". Your labels were not saved.")
        except StoreError as exc:
            show_error(exc)
        else:
            if draft.revision == image.revision:  # our own change: the mask draft stays current
                draft.revision = revision
            st.toast(escape_markdown(f"Labels of {image.file_name} saved"))
            st.rerun()

if view == "Label mapping":
    rows = label_rows(store, dataset, image.id)
    if mapping is None:
        st.caption("This data set has no label mapping yet; start from a built-in one.")
        mapping = load_mapping(st.selectbox("Start from", ["client", "ccp", "imaterialist"]))
    table = pd.DataFrame(mapping_table(mapping))
    st.dataframe(table, hide_index=True, height=240)
    st.markdown("**Edit a rule**")
    known_labels = sorted(set(mapping.rules) | {r.raw_label for r in rows})
    rule_label = st.selectbox(
        "Client label", known_labels, accept_new_options=True, help="Pick a label or type a new one."
    )
    current_rule = list(mapping.classes_for(rule_label)) if rule_label else []
    rule_classes = st.multiselect(
        "Maps to",
        classes,
        default=[c for c in dict.fromkeys(current_rule) if c in classes],
        key=f"rule-classes-{rule_label}",
        help="None: the label is dropped.",
    )
    counts = {
        name: st.number_input(
            f"Objects of {name} per label",
            1,
            10,
            max(1, current_rule.count(name)),
            key=f"rule-count-{rule_label}-{name}",
        )
        for name in rule_classes
    }
    set_col, remap_col = st.columns(2)
    if set_col.button("Save rule", disabled=not author or not rule_label):
        try:
            store.set_mapping(dataset, mapping.with_rule(rule_label, rule_from_counts(counts)), author)
        except StoreError as exc:
            show_error(exc)
        else:
            st.toast(escape_markdown(f"Rule for {rule_label} saved"))
            st.rerun()
    if remap_col.button(
        "Re-map every image's labels",
        disabled=not author or store.get_mapping(dataset) is None,
        help="Re-derives each image's classes from its client labels with this mapping.",
    ):
        with st.spinner("Re-mapping ..."):
            try:
                changed = store.remap_image_labels(dataset, author)
            except (ConflictError, StoreError) as exc:
                show_error(exc)
            else:
                st.success(f"{changed} images changed")

if view == "History":
    entries = store.history(dataset, image.id)
    if entries:
        shown = pd.DataFrame(entries)[["id", "action", "author", "at", "revision", "undoes"]]
        shown["at"] = shown["at"].map(when)
        st.dataframe(shown, hide_index=True)
    else:
        st.caption("No change to this image yet.")
