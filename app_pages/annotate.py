"""Annotate: review client photos from the store, relabel, correct masks, pre-annotate, export."""

import pandas as pd
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from fashionseg import settings
from fashionseg.annotate import (
    Draft,
    LabelRow,
    brush_colour,
    canvas_background,
    import_upload,
    label_rows,
    preannotate,
    review_queue,
    rule_from_counts,
    save_label_rows,
)
from fashionseg.app_resources import instance_segmenter, model_or_error, show_error, store_or_stop, trained
from fashionseg.canvas import CanvasDrawingError, CanvasFrame
from fashionseg.coco import dumps_coco, file_name_problem
from fashionseg.exceptions import FashionSegError
from fashionseg.images import ImageLoadError, load_image
from fashionseg.mapping import load_mapping, mapping_table
from fashionseg.segment import escape_markdown
from fashionseg.store import ConflictError, StoreError, export_coco

TOOLS = {"Polygon": "polygon", "Rectangle": "rect", "Freehand": "freedraw"}
DROPPED = "(dropped)"
NEW_INSTANCE = -1



def import_form(author: str) -> None:
    """Upload a COCO file with its images folder as a new data set: the checks of ``fashionseg store import``."""
    with st.form("import", border=False):
        upload = st.file_uploader("COCO JSON", type=["json"])
        folder = st.text_input("Images folder", help="The folder on this machine that the file's file_name values are relative to.")
        name = st.text_input("Data set name")
        submitted = st.form_submit_button("Import", disabled=not author)
    if not author:
        st.caption("Enter your name to import.")
    if submitted:
        if upload is None:
            st.error("Choose a COCO JSON file to import.")
            return
        try:
            import_upload(store, upload.getvalue(), upload.name, folder, name, author)
        except FashionSegError as exc:
            show_error(exc)  # nothing was written
        else:
            st.toast(f"Imported {upload.name} as {name.strip()}")
            st.rerun()


st.title("Annotate")
store_path = str(settings.store_path())
store = store_or_stop(store_path)
datasets = store.datasets()
if not datasets:
    st.info(
        f"The annotation store ({store_path}) has no data set yet. Import one from the command line, e.g. the CCP photos "
        "with their image-level labels:\n\n"
        "```\nfashionseg convert ccp ../shared/datasets/ccp --out data/ccp\n"
        "fashionseg store import data/ccp/client.json --images ../shared/datasets/ccp/photos --name ccp-client\n"
        "fashionseg store preannotate ccp-client\n```\n\nor upload a COCO file here."
    )
    import_form(st.text_input("Annotator", key="annotator", placeholder="your name").strip())
    st.stop()

maskrcnn_path = trained("maskrcnn")
drafts: dict = st.session_state.setdefault("drafts", {})  # image id -> (serial, Draft)
canvas_round: dict = st.session_state.setdefault("canvas_round", {})  # image id -> canvas generation

with st.sidebar:
    dataset = st.selectbox("Data set", datasets)
    author = st.text_input("Annotator", key="annotator", placeholder="your name", help="Every change in the store names its author.").strip()
    done, total = store.review_progress(dataset)
    st.progress(done / total if total else 0.0, text=f"{done} of {total} reviewed")
    only_unreviewed = st.toggle("Only images still to review", value=True)
    with st.expander("Pre-annotate with the model"):
        if maskrcnn_path is None:
            st.caption("No trained Mask R-CNN: images start empty.")
        else:
            st.caption(f"Saves {maskrcnn_path.name}'s instances on every unreviewed image without annotations, "
                       "so nobody waits for the model per image. Same as `fashionseg store preannotate`.")
            if st.button("Pre-annotate the data set"):
                bar = st.progress(0.0, text="loading the model ...")
                segmenter = model_or_error(instance_segmenter, maskrcnn_path, "Mask R-CNN")

                def show_progress(n: int, count: int, name: str) -> None:
                    bar.progress(n / count if count else 1.0, text=f"{n} of {count} {escape_markdown(name)}")

                if segmenter is not None:
                    try:
                        report = preannotate(store, dataset, segmenter, model_name=maskrcnn_path.name, on_progress=show_progress)
                    except FashionSegError as exc:  # the store busy for too long, say
                        show_error(exc)
                    else:
                        st.success(report.summary())
                        for line in report.failed[:10]:
                            st.warning(escape_markdown(line))
    with st.expander("Import a COCO file"):
        import_form(author)
    with st.expander("Export"):
        if st.button("Build the COCO export"):
            try:
                st.session_state["export"] = (dataset, dumps_coco(export_coco(store, dataset)))
            except FashionSegError as exc:
                show_error(exc)
        if st.session_state.get("export", (None,))[0] == dataset:
            st.download_button("Download COCO JSON", st.session_state["export"][1], f"{dataset}.json", "application/json")

queue = review_queue(store, dataset, only_unreviewed)
position = st.session_state.get("position", 0)
current = st.session_state.get("current_image")
if current in drafts and drafts[current][1].changed and all(im.id != current for im in queue):
    # Someone else reviewed the image being edited: keep it in view with the edits rather than hide them.
    queue.insert(min(position, len(queue)), store.image(current))
if not queue:
    st.success("Every image of this data set is reviewed.")
    st.stop()
position = min(position, len(queue) - 1)
previous, picker, following = st.columns([1, 6, 1], vertical_alignment="bottom")
if previous.button("Previous", disabled=position == 0):
    position -= 1
if following.button("Next", disabled=position >= len(queue) - 1):
    position += 1
names = [im.file_name for im in queue]
position = picker.selectbox(f"Image ({len(queue)} in the queue)", range(len(queue)), index=position,
                            format_func=lambda k: f"{k + 1}. {names[k]}" + (" (reviewed)" if queue[k].reviewed else ""))
st.session_state["position"] = position
image = queue[position]  # read from the store this run
st.session_state["current_image"] = image.id

if file_name_problem(image.file_name):  # a row stored before imports refused such names: never read outside the folder
    st.error(escape_markdown(f"{image.file_name}: {file_name_problem(image.file_name)}"))
    st.stop()
try:
    photo = load_image(image.path)
except (ImageLoadError, OSError) as exc:
    st.error(escape_markdown(f"{image.file_name}: {exc}"))
    st.stop()
if photo.shape[:2] != (image.height, image.width):
    st.error(f"The photo decodes to {photo.shape[1]} x {photo.shape[0]}, the store records {image.width} x {image.height}; "
             "it cannot be annotated until the two agree.")
    st.stop()


classes = list(store.categories(dataset).values())


def open_draft() -> tuple[int, Draft]:
    """The store's annotations; for an image nobody annotated, the model's prediction when there is a model.

    Returns it with a serial number that keys its widgets, so a reopened draft starts with fresh ones.
    """
    draft = Draft.from_store(store, image)
    segmenter = model_or_error(instance_segmenter, maskrcnn_path, "Mask R-CNN") if not draft.instances and maskrcnn_path else None
    if segmenter is not None:
        draft = Draft.from_prediction(image, segmenter.predict(photo), classes)
    serial = st.session_state["draft_serial"] = st.session_state.get("draft_serial", 0) + 1
    drafts[image.id] = (serial, draft)
    return serial, draft


serial, draft = drafts.get(image.id, (None, None))
if draft is None or (not draft.changed and draft.revision != image.revision):
    serial, draft = open_draft()
if draft.revision != image.revision:
    st.error(f"Someone saved this image after you opened it (your revision {draft.revision}, the store's {image.revision}). "
             "Your edits are kept here: load their version, or keep yours and save it over theirs.")
    theirs, mine = st.columns(2)
    if theirs.button("Load the saved version (drops your edits)"):
        drafts.pop(image.id)
        st.rerun()
    if mine.button("Keep my version (the next save replaces theirs)"):
        draft.revision = image.revision
        st.rerun()

state = "reviewed" if image.reviewed else "not reviewed yet"
st.caption(escape_markdown(f"{image.file_name} · {image.width} x {image.height} · revision {image.revision} · {state}"
                           + (" · unsaved edits" if draft.changed else "")))
masks_tab, labels_tab, mapping_tab, history_tab = st.tabs(["Masks", "Labels", "Label mapping", "History"])

with masks_tab:
    if draft.source == "model":
        st.info("Pre-annotation: the model's instances, not saved yet. Keep, drop, relabel or redraw them, then save.")
    left, right = st.columns([3, 2])
    with right:
        st.markdown("**Instances**")
        for k, instance in enumerate(draft.instances):
            keep_col, class_col = st.columns([1, 3], vertical_alignment="center")
            draft.set_keep(k, keep_col.checkbox(f"#{k + 1}", value=instance.keep, key=f"keep-{serial}-{k}"))
            draft.relabel(k, class_col.selectbox(f"Class of #{k + 1}", classes, index=classes.index(instance.class_name),
                                                 key=f"class-{serial}-{k}", label_visibility="collapsed"))
            score = "" if instance.score is None else f" · score {instance.score:.2f}"
            st.caption(f"{instance.origin}{score} · {instance.area} px")
        if not draft.instances:
            st.caption("No instance yet: draw one.")
        target = st.selectbox("Draw on", [NEW_INSTANCE, *range(len(draft.instances))],
                              format_func=lambda k: "a new instance" if k == NEW_INSTANCE else f"#{k + 1} {draft.instances[k].class_name}",
                              key=f"target-{serial}")
        new_class = st.selectbox("New instance's class", classes, key=f"new-class-{serial}", disabled=target != NEW_INSTANCE)
        tool = st.radio("Tool", list(TOOLS), horizontal=True, help="Polygon: click the corners, then the first one again to close it.")
        erase = st.toggle("Erase", help="Shapes drawn now are taken away from the instance.")
        brush = st.slider("Brush width", 2, 60, 16, disabled=tool != "Freehand")
    selected = None if target == NEW_INSTANCE else target
    drawing_class = new_class if selected is None else draft.instances[selected].class_name
    frame = CanvasFrame.fit(image.height, image.width, max_width=640, max_height=760)
    canvas_key = f"canvas-{image.id}-{canvas_round.get(image.id, 0)}"
    with left:
        colour = brush_colour(drawing_class, erase)
        canvas = st_canvas(fill_color=colour, stroke_color=colour, stroke_width=brush if tool == "Freehand" else 2,
                           background_image=canvas_background(photo, draft, selected, frame), height=frame.canvas_height,
                           width=frame.canvas_width, drawing_mode=TOOLS[tool], key=canvas_key)
    objects = (canvas.json_data or {}).get("objects", [])

    def apply_canvas() -> bool:
        try:
            draft.draw(selected, objects, frame, new_class)
        except CanvasDrawingError as exc:
            st.error(f"Could not use the drawing: {exc}")
            return False
        canvas_round[image.id] = canvas_round.get(image.id, 0) + 1
        return True

    apply_col, save_col, undo_col, reset_col = st.columns(4)
    if apply_col.button(f"Apply drawing ({len(objects)})", disabled=not objects):
        if apply_canvas():
            st.rerun()
    if save_col.button("Save and mark reviewed", type="primary", disabled=not author):
        if not objects or apply_canvas():
            try:
                revision = draft.save(store, dataset, author)
            except ConflictError as exc:
                st.error(f"{exc} Your edits are still here.")
            except StoreError as exc:
                st.error(str(exc))
            else:
                st.toast(f"Saved {image.file_name} as revision {revision}")
                drafts.pop(image.id)
                st.rerun()
    if undo_col.button("Undo last save", disabled=not author or image.revision == 0):
        try:
            store.undo(image.id, expected_revision=image.revision, author=author)
        except (ConflictError, StoreError) as exc:
            st.error(str(exc))
        else:
            drafts.pop(image.id, None)
            st.rerun()
    if reset_col.button("Discard edits", disabled=not draft.changed):
        drafts.pop(image.id, None)
        st.rerun()
    if not author:
        st.caption("Enter your name in the sidebar to save.")

with labels_tab:
    st.markdown("The client's labels on this photo and the classes they count as.")
    rows = label_rows(store, dataset, image.id)
    edited = []
    for k, row in enumerate(rows):
        raw_col, class_col, count_col = st.columns([2, 3, 1], vertical_alignment="center")
        raw_col.text(row.raw_label)  # st.text never renders markup
        options = [DROPPED, *classes]
        chosen = class_col.selectbox(f"Class for {row.raw_label}", options, index=options.index(row.class_name or DROPPED),
                                     key=f"label-class-{image.id}-{image.revision}-{k}", label_visibility="collapsed")
        count = count_col.number_input("Count", 0, 20, row.count, key=f"label-count-{image.id}-{image.revision}-{k}",
                                       label_visibility="collapsed")
        edited.append(LabelRow(row.raw_label, None if chosen == DROPPED else chosen, int(count)))
    with st.expander("Add a label"):
        new_raw = st.text_input("Client label", key=f"new-raw-{image.id}-{image.revision}")
        new_label_class = st.selectbox("Class", classes, key=f"new-label-class-{image.id}-{image.revision}")
        new_count = st.number_input("Count", 1, 20, 1, key=f"new-count-{image.id}-{image.revision}")
        if new_raw.strip():
            edited.append(LabelRow(new_raw.strip(), new_label_class, int(new_count)))
    if st.button("Save labels", disabled=not author or edited == rows):
        try:
            revision = save_label_rows(store, dataset, image, edited, author)
        except (ConflictError, StoreError) as exc:
            st.error(str(exc))
        else:
            if draft.revision == image.revision:  # our own change: the mask draft stays current
                draft.revision = revision
            st.toast(f"Labels of {image.file_name} saved")
            st.rerun()

with mapping_tab:
    mapping = store.get_mapping(dataset)
    if mapping is None:
        st.caption("This data set has no label mapping yet; start from a built-in one.")
        mapping = load_mapping(st.selectbox("Start from", ["client", "ccp", "imaterialist"]))
    table = pd.DataFrame(mapping_table(mapping))
    st.dataframe(table, hide_index=True, height=240)
    st.markdown("**Edit a rule**")
    known = sorted(set(mapping.rules) | {r.raw_label for r in rows})
    rule_label = st.selectbox("Client label", known, accept_new_options=True,
                              help="Pick a label or type a new one.")
    current_rule = list(mapping.classes_for(rule_label)) if rule_label else []
    rule_classes = st.multiselect("Maps to", classes, default=[c for c in dict.fromkeys(current_rule) if c in classes],
                                  key=f"rule-classes-{rule_label}", help="None: the label is dropped.")
    counts = {name: st.number_input(f"Objects of {name} per label", 1, 10, max(1, current_rule.count(name)), key=f"rule-count-{rule_label}-{name}")
              for name in rule_classes}
    set_col, remap_col = st.columns(2)
    if set_col.button("Save rule", disabled=not author or not rule_label):
        try:
            store.set_mapping(dataset, mapping.with_rule(rule_label, rule_from_counts(counts)), author)
        except StoreError as exc:
            st.error(str(exc))
        else:
            st.toast(f"Rule for {rule_label} saved")
            st.rerun()
    if remap_col.button("Re-map every image's labels", disabled=not author or store.get_mapping(dataset) is None,
                        help="Re-derives each image's classes from its client labels with this mapping."):
        with st.spinner("Re-mapping ..."):
            try:
                changed = store.remap_image_labels(dataset, author)
            except (ConflictError, StoreError) as exc:
                st.error(str(exc))
            else:
                st.success(f"{changed} images changed")

with history_tab:
    entries = store.history(dataset, image.id)
    if entries:
        st.dataframe(pd.DataFrame(entries)[["id", "action", "author", "at", "revision", "undoes"]], hide_index=True)
    else:
        st.caption("No change to this image yet.")
