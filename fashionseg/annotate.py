"""Annotation work on one image of the store: a draft of instances, corrections, saving, pre-annotation.

The Annotate page keeps a :class:`Draft` per image: the store's annotations
(or, for an image nobody annotated yet, the model's prediction) as editable
instances, each with a full-resolution mask. Accepting, rejecting,
relabelling and drawing change only the draft; :meth:`Draft.save` writes it
to the store as one change based on the revision the draft was opened at, so
a concurrent save by someone else raises the store's ``ConflictError`` and
the draft is kept for another try.

Example:
    >>> import numpy as np
    >>> mask = np.zeros((4, 6), bool); mask[1:3, 2:5] = True
    >>> draft = Draft(image_id=1, revision=0, height=4, width=6,
    ...               instances=[DraftInstance("shoe", mask, origin="model", score=0.9)])
    >>> draft.relabel(0, "bag, wallet")
    >>> [(i.class_name, i.origin, int(i.mask.sum())) for i in draft.kept()]
    [('bag, wallet', 'annotator', 6)]
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from sqlalchemy import insert, select

from fashionseg.canvas import ERASE_COLOUR, CanvasFrame, apply_drawing
from fashionseg.coco import file_name_problem
from fashionseg.exceptions import ImageLoadError, UsageError
from fashionseg.mapping import LabelMapping
from fashionseg.masks import encode_rle, mask_bbox
from fashionseg.overlay import CLASS_COLOURS, draw_instances
from fashionseg.store import AnnotationStore, ConflictError, ImageLabel, ImageRecord, NewAnnotation, StoreError
from fashionseg.store import schema as t
from fashionseg.store.store import now as store_now

MODEL_AUTHOR_PREFIX = "model:"


@dataclass
class DraftInstance:
    """One instance being reviewed: its class, mask at the photo's resolution and where it came from."""

    class_name: str
    mask: np.ndarray
    origin: str = "annotator"  # ground_truth | model | annotator
    score: float | None = None
    coco_id: int | None = None  # the store's annotation id, kept across saves
    keep: bool = True
    rle: dict | None = None  # the store's compressed RLE of ``mask`` while the mask is unchanged (saves re-encode nothing)

    @property
    def area(self) -> int:
        return int(self.mask.sum())


@dataclass
class Draft:
    """An image's instances as the annotator is editing them, based on one revision of the store."""

    image_id: int
    revision: int
    height: int
    width: int
    instances: list[DraftInstance] = field(default_factory=list)
    source: str = "store"  # "store" or "model": where the instances came from
    changed: bool = False

    @classmethod
    def from_store(cls, store: AnnotationStore, image: ImageRecord) -> Draft:
        instances = [DraftInstance(a.category_name, a.mask(), a.origin, a.score, a.coco_id, rle=a.rle) for a in store.annotations(image.id)]
        return cls(image.id, image.revision, image.height, image.width, instances, "store")

    @classmethod
    def from_prediction(cls, image: ImageRecord, result, classes: list[str]) -> Draft:
        """The model's instances as a pre-annotation; classes the data set lacks are left out."""
        if (result.height, result.width) != (image.height, image.width):
            raise ValueError(f"the photo decodes to {result.width} x {result.height}, the store has {image.width} x {image.height}")
        instances = [DraftInstance(i.class_name, i.mask, "model", float(i.score)) for i in result.instances if i.class_name in classes]
        return cls(image.id, image.revision, image.height, image.width, instances, "model")

    def kept(self) -> list[DraftInstance]:
        return [i for i in self.instances if i.keep and i.area > 0]

    def set_keep(self, index: int, keep: bool) -> None:
        if self.instances[index].keep != keep:
            self.instances[index].keep = keep
            self.changed = True

    def relabel(self, index: int, class_name: str) -> None:
        instance = self.instances[index]
        if instance.class_name != class_name:
            instance.class_name, instance.origin = class_name, "annotator"
            self.changed = True

    def draw(self, index: int | None, objects: list[dict], frame: CanvasFrame, class_name: str | None = None) -> int | None:
        """Apply canvas shapes to instance ``index``, or to a new instance of ``class_name`` when ``index`` is None.

        Returns the index drawn on (None when there was nothing to apply).
        """
        if not objects:
            return index
        if (frame.height, frame.width) != (self.height, self.width):
            raise ValueError(f"the canvas frame is for a {frame.width} x {frame.height} photo, this one is {self.width} x {self.height}")
        if index is None:
            if class_name is None:
                raise ValueError("a new instance needs a class")
            mask = apply_drawing(None, objects, frame)
            if not mask.any():
                return None
            self.instances.append(DraftInstance(class_name, mask, "annotator"))
            self.changed = True
            return len(self.instances) - 1
        instance = self.instances[index]
        mask = apply_drawing(instance.mask, objects, frame)
        if not np.array_equal(mask, instance.mask):
            instance.mask, instance.origin, instance.rle = mask, "annotator", None
            self.changed = True
        return index

    def new_annotations(self, category_ids: dict[str, int]) -> list[NewAnnotation]:
        missing = sorted({i.class_name for i in self.kept()} - set(category_ids))
        if missing:
            raise StoreError(f"the data set has no category {', '.join(missing)}")
        return [
            NewAnnotation(category_ids[i.class_name], i.rle if i.rle is not None else encode_rle(i.mask), i.origin,
                          i.score if i.origin == "model" else None, coco_id=i.coco_id)
            for i in self.kept()
        ]

    def save(self, store: AnnotationStore, dataset: str, author: str, reviewed: bool = True) -> int:
        """Write the kept instances as the image's annotations; returns the new revision.

        Raises:
            ConflictError: someone saved the image after this draft's revision; nothing was written.
        """
        revision = store.save_annotations(self.image_id, self.new_annotations(store.category_ids(dataset)), expected_revision=self.revision,
                                          author=author, reviewed=reviewed)
        self.revision, self.changed, self.source = revision, False, "store"
        return revision


# ---------------------------------------------------------------- what the canvas shows


def instance_names(instances: list[DraftInstance]) -> list[str]:
    """Each instance's class numbered within its class, in list order: ``shoe 1``, ``shoe 2``, ``pants 1``.

    Dropped instances keep their number, so unticking one renames no other.

    >>> mask = np.zeros((2, 2), bool)
    >>> instance_names([DraftInstance(c, mask) for c in ("shoe", "pants", "shoe")])
    ['shoe 1', 'pants 1', 'shoe 2']
    """
    seen: dict[str, int] = {}
    names = []
    for instance in instances:
        seen[instance.class_name] = seen.get(instance.class_name, 0) + 1
        names.append(f"{instance.class_name} {seen[instance.class_name]}")
    return names


def canvas_background(photo: np.ndarray, draft: Draft, selected: int | None, frame: CanvasFrame, quality: int = 90) -> bytes:
    """JPEG of the photo at canvas size with the kept instances tinted and numbered, the one being edited strongest.

    Drawn at canvas size (masks shrunk to it), so labels are as large on a 12 MP photo as on a small one.
    """
    size = (frame.canvas_width, frame.canvas_height)
    shown = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    names = instance_names(draft.instances)
    items, texts, strong = [], [], None
    for k, instance in enumerate(draft.instances):
        if not instance.keep or not instance.area:
            continue
        small = cv2.resize(instance.mask.astype(np.uint8) * 255, size, interpolation=cv2.INTER_AREA) >= 128
        item = (instance.class_name, None, _box(small) if small.any() else (0, 0, 0, 0), small)
        if k == selected:
            strong = (item, names[k])
        else:
            items.append(item)
            texts.append(names[k])
    shown = draw_instances(shown, items, opacity=0.3, boxes=False, labels=True, texts=texts)
    if strong is not None:
        shown = draw_instances(shown, [strong[0]], opacity=0.6, boxes=True, labels=True, texts=[strong[1]])
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(shown, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("could not encode the canvas background")
    return encoded.tobytes()


def brush_colour(class_name: str | None, erase: bool) -> str:
    """The canvas colour for drawing ``class_name``, or the eraser's (how the two are told apart later)."""
    if erase:
        return ERASE_COLOUR
    r, g, b = CLASS_COLOURS.get(class_name or "", (255, 255, 255))
    return f"rgba({r}, {g}, {b}, 0.6)"


def _box(mask: np.ndarray) -> tuple[float, float, float, float]:
    x, y, w, h = mask_bbox(mask)
    return x, y, x + w, y + h


# ---------------------------------------------------------------- image-level labels


@dataclass(frozen=True)
class LabelRow:
    """A client's label on an image next to the class it maps to."""

    raw_label: str
    class_name: str | None  # None: dropped
    count: int


def label_rows(store: AnnotationStore, dataset: str, image_id: int) -> list[LabelRow]:
    names = store.categories(dataset)
    return [LabelRow(x.raw_label, names.get(x.category_id) if x.category_id is not None else None, x.count)
            for x in store.image_labels(image_id)]


def save_label_rows(store: AnnotationStore, dataset: str, image: ImageRecord, rows: list[LabelRow], author: str) -> int:
    """Replace the image's image-level labels; a row without a class or with count 0 is kept as dropped."""
    ids = store.category_ids(dataset)
    labels = []
    for row in rows:
        if not row.raw_label.strip():
            raise StoreError("every label needs the client's label text")
        if row.class_name is not None and row.class_name not in ids:
            raise StoreError(f"the data set has no category {row.class_name!r}")
        dropped = row.class_name is None or row.count == 0
        labels.append(ImageLabel(row.raw_label.strip(), None if dropped else ids[row.class_name], 0 if dropped else int(row.count)))
    return store.save_image_labels(image.id, labels, expected_revision=image.revision, author=author)


def rule_from_counts(counts: dict[str, int]) -> list[str]:
    """A mapping rule's class list from class -> objects per label (``{'shoe': 2}`` -> ``['shoe', 'shoe']``)."""
    return [name for name, n in counts.items() for _ in range(int(n))]


# ---------------------------------------------------------------- importing an upload


def import_upload(store: AnnotationStore, data: bytes, file_name: str, image_dir: str, dataset: str, author: str,
                  on_progress=None) -> int:
    """Import an uploaded COCO file and its images folder as a new data set; returns its id.

    The same checks as ``fashionseg store import``, all before anything is written
    (:func:`fashionseg.photo_import.import_coco_upload`).

    Raises:
        FashionSegError: not UTF-8 JSON, a bad document or image (InvalidCocoError), a taken name (StoreError).
    """
    from fashionseg.photo_import import import_coco_upload

    return import_coco_upload(store, data, file_name, image_dir, dataset, author, on_progress)


# ---------------------------------------------------------------- queue


def review_queue(store: AnnotationStore, dataset: str, only_unreviewed: bool) -> list[ImageRecord]:
    return [im for im in store.images(dataset) if not (only_unreviewed and im.reviewed)]


@dataclass(frozen=True)
class SavedChange:
    """The annotator's latest save, kept so it can be undone or gone back to after the page moved on."""

    image_id: int
    file_name: str
    revision: int


class AnnotationSession:
    """One annotator's work on one data set across page runs: which image is shown, the drafts, the last save.

    The Annotate page keeps one in ``st.session_state`` and only lays out
    widgets around it. Images are followed by id, not by queue position, so a
    queue that shrinks as images get reviewed never shifts the annotator onto
    another image. Images saved in this session stay in the queue (marked
    reviewed) even when it shows only images still to review: "previous" and
    undo reach the image just saved after the page moved on to the next one.

    Example:
        >>> from fashionseg.store import AnnotationStore
        >>> store = AnnotationStore("sqlite://")
        >>> session = AnnotationSession("client")
        >>> session.current is None and session.last_saved is None
        True
    """

    def __init__(self, dataset: str):
        self.dataset = dataset
        self.current: int | None = None  # image id shown
        self.drafts: dict[int, Draft] = {}
        self.serials: dict[int, int] = {}  # image id -> serial of its draft (keys its widgets)
        self.canvas_rounds: dict[int, int] = {}  # image id -> drawings applied (keys its canvas)
        self.in_view: set[int] = set()  # saved, undone or opened here: kept in the queue even when reviewed
        self.last_saved: SavedChange | None = None
        self._serial = 0

    # ---- which image

    def queue(self, store: AnnotationStore, only_unreviewed: bool) -> list[ImageRecord]:
        """The images to go through: unreviewed ones (or all), plus those saved or being edited in this session."""
        keep = self.in_view | {image_id for image_id, draft in self.drafts.items() if draft.changed}
        return [im for im in store.images(self.dataset) if not (only_unreviewed and im.reviewed) or im.id in keep]

    def position(self, queue: list[ImageRecord]) -> int:
        """Where the current image is in ``queue`` (it becomes the first one when it is not there)."""
        for k, image in enumerate(queue):
            if image.id == self.current:
                return k
        self.current = queue[0].id if queue else None
        return 0

    def go(self, image_id: int) -> None:
        self.current = image_id

    def open(self, image_id: int) -> None:
        """Show ``image_id`` and keep it in the queue, reviewed or not (from another page: "open in Annotate")."""
        self.in_view.add(image_id)
        self.current = image_id

    def step(self, queue: list[ImageRecord], by: int) -> None:
        """Move ``by`` images along the queue (-1: previous, 1: next), staying within it."""
        if queue:
            self.current = queue[min(max(self.position(queue) + by, 0), len(queue) - 1)].id

    # ---- the draft of an image

    def draft(self, store: AnnotationStore, image: ImageRecord, predict: Callable[[ImageRecord], Draft | None] | None = None) -> tuple[int, Draft]:
        """``(serial, draft)`` of ``image``: the one being edited, or a fresh one from the store.

        An unedited draft follows the store (someone else's save is simply shown); an edited one is kept
        until saved or discarded, and :meth:`conflict` tells when the store moved on under it. For an image
        with no annotation, ``predict(image)`` may supply the model's instances as a pre-annotation.
        """
        draft = self.drafts.get(image.id)
        if draft is None or (not draft.changed and draft.revision != image.revision):
            draft = Draft.from_store(store, image)
            if not draft.instances and predict is not None:
                draft = predict(image) or draft
            self._serial += 1
            self.drafts[image.id], self.serials[image.id] = draft, self._serial
        return self.serials[image.id], draft

    def conflict(self, image: ImageRecord) -> bool:
        """Whether the store has a newer revision than the edited draft of ``image`` started from."""
        draft = self.drafts.get(image.id)
        return draft is not None and draft.revision != image.revision

    def keep_mine(self, image: ImageRecord) -> None:
        """Base the edited draft on the store's revision: the next save replaces the other save."""
        self.drafts[image.id].revision = image.revision

    def discard(self, image_id: int) -> None:
        """Drop the draft (edits and all); the next run reads the image from the store again."""
        self.drafts.pop(image_id, None)
        self.serials.pop(image_id, None)

    def canvas_key(self, image_id: int) -> str:
        return f"canvas-{image_id}-{self.canvas_rounds.get(image_id, 0)}"

    def drawing_applied(self, image_id: int) -> None:
        """A new canvas key: the applied shapes leave the canvas (they are in the draft now)."""
        self.canvas_rounds[image_id] = self.canvas_rounds.get(image_id, 0) + 1

    # ---- saving and undoing

    def save(self, store: AnnotationStore, image: ImageRecord, author: str, queue: list[ImageRecord]) -> int:
        """Save the draft of ``image`` as reviewed and move on to the next image of ``queue``; returns the revision.

        Raises:
            ConflictError: someone saved the image since the draft's revision; the draft is kept.
        """
        revision = self.drafts[image.id].save(store, self.dataset, author)
        self.discard(image.id)
        self.in_view.add(image.id)
        self.last_saved = SavedChange(image.id, image.file_name, revision)
        ids = [im.id for im in queue]
        if image.id in ids and ids.index(image.id) + 1 < len(ids):
            self.current = ids[ids.index(image.id) + 1]
        return revision

    def undo(self, store: AnnotationStore, image_id: int, author: str) -> int:
        """Undo the latest change of ``image_id`` (anyone's) and show that image; returns the new revision.

        Raises:
            ConflictError: the image changed since it was read here (a save between two clicks).
            StoreError: nothing left to undo.
        """
        image = store.image(image_id)
        revision = store.undo(image.id, expected_revision=image.revision, author=author)
        self.discard(image.id)
        self.in_view.add(image.id)  # stays in view, now unreviewed again
        self.current = image.id
        if self.last_saved is not None and self.last_saved.image_id == image.id:
            self.last_saved = None
        return revision


# ---------------------------------------------------------------- who changed what, and flags


def last_change(store: AnnotationStore, image_id: int) -> dict | None:
    """The image's latest change (``author``, ``at``, ``action``, ``revision``), or None; flags are not changes."""
    history = t.history.c
    with store.reading() as c:
        row = c.execute(select(history.author, history.at, history.action, history.revision)
                        .where(history.image_id == image_id, history.revision.is_not(None))
                        .order_by(history.id.desc()).limit(1)).first()
    return None if row is None else dict(row._mapping)


def when(stamp: str | None) -> str:
    """A stored UTC time as people read it: ``2026-11-26 17:42 UTC``.

    >>> when("2026-11-26T17:42:05+00:00")
    '2026-11-26 17:42 UTC'
    """
    if not stamp:
        return "at an unknown time"
    return stamp.replace("T", " ")[:16] + " UTC"


def conflict_text(store: AnnotationStore, image: ImageRecord) -> str:
    """Who saved ``image`` last and when, for the message of a save that came second."""
    change = last_change(store, image.id)
    if change is None:
        return f"{image.file_name} changed since you opened it"
    action = {"undo": "undone", "save_image_labels": "relabelled"}.get(change["action"], "saved")
    return f"{image.file_name} was {action} by {change['author']} at {when(change['at'])} (revision {change['revision']}) after you opened it"


FLAG_ACTION = "flag"


def flag_ground_truth(store: AnnotationStore, image_id: int, author: str, note: str, details: dict | None = None) -> None:
    """Record that an image's ground truth looks wrong, in the store's history (action ``flag``).

    A flag changes no annotation and no revision, so it never conflicts with
    anyone's edit and undo passes over it; ``flags`` lists them for review.
    """
    if not isinstance(author, str) or not author.strip():
        raise StoreError("enter your name to flag an image (every entry in the store names its author)")
    if not note.strip():
        raise UsageError("say what is wrong with the ground truth")
    image = store.image(image_id)
    with store.writing() as c:
        c.execute(insert(t.history).values(
            dataset_id=image.dataset_id, image_id=image.id, action=FLAG_ACTION, author=author.strip(), at=store_now(),
            revision=None, undoes=None, before=None,
            after=json.dumps({"note": note.strip()[:2000], **(details or {})}, sort_keys=True),
        ))


def flags(store: AnnotationStore, dataset: str, image_id: int | None = None) -> list[dict]:
    """The data set's ground-truth flags, oldest first: file name, author, time, note and what was seen."""
    history, images = t.history.c, t.images.c
    query = (select(history.image_id, history.author, history.at, history.after, images.file_name)
             .join(t.images, images.id == history.image_id)
             .where(history.dataset_id == store.dataset_id(dataset), history.action == FLAG_ACTION).order_by(history.id))
    if image_id is not None:
        query = query.where(history.image_id == image_id)
    with store.reading() as c:
        rows = c.execute(query).all()
    return [{"image_id": r.image_id, "file_name": r.file_name, "author": r.author, "at": r.at, **json.loads(r.after or "{}")}
            for r in rows]


def locate_photo(store: AnnotationStore, file_name: str, photos_dir: str | Path) -> tuple[str, ImageRecord] | None:
    """The data set and image of the store that hold photo ``file_name`` of ``photos_dir``, or None.

    Data sets with ground-truth annotations come first (a ground-truth flag is about them).
    """
    folder = Path(photos_dir).resolve()
    found = []
    for dataset in store.datasets():
        for image in store.images(dataset):
            if image.file_name == file_name and image.path.parent.resolve() == (folder / file_name).parent:
                with store.reading() as c:
                    has_truth = c.scalar(select(t.annotations.c.id).where(t.annotations.c.image_id == image.id,
                                                                         t.annotations.c.origin == "ground_truth").limit(1))
                found.append((has_truth is None, dataset, image))
                break
    if not found:
        return None
    _, dataset, image = min(found, key=lambda f: (f[0], f[1]))
    return dataset, image


# ---------------------------------------------------------------- export


def reviewed_only(document: dict) -> dict:
    """A store export (:func:`fashionseg.store.export_coco`) cut down to its reviewed images and their annotations.

    >>> doc = {"images": [{"id": 1, "reviewed": True}, {"id": 2, "reviewed": False}], "categories": [],
    ...        "annotations": [{"id": 5, "image_id": 1}, {"id": 6, "image_id": 2}], "image_labels": [{"id": 1, "image_id": 2}]}
    >>> cut = reviewed_only(doc)
    >>> [im["id"] for im in cut["images"]], [a["id"] for a in cut["annotations"]], cut["image_labels"]
    ([1], [5], [])
    """
    keep = {im["id"] for im in document["images"] if im.get("reviewed")}
    out = {**document, "images": [im for im in document["images"] if im["id"] in keep],
           "annotations": [a for a in document["annotations"] if a["image_id"] in keep]}
    if "image_labels" in document:
        out["image_labels"] = [x for x in document["image_labels"] if x["image_id"] in keep]
    return out


# ---------------------------------------------------------------- labels the annotator adds

DROPPED = "(dropped)"


def added_label_rows(mapping: LabelMapping | None, raw: str, chosen: str | None, count: int) -> tuple[list[LabelRow], str | None]:
    """The rows of a client label the annotator adds, or ``([], why)`` while its class is still open.

    A label the data set's mapping knows gets the mapping's classes unless a class is chosen; an unknown
    word gets nothing until the annotator chooses its class (or ``(dropped)``): never a silent default.

    >>> from fashionseg.mapping import load_mapping
    >>> added_label_rows(load_mapping("client"), "shoes", None, 1)
    ([LabelRow(raw_label='shoes', class_name='shoe', count=2)], None)
    >>> added_label_rows(load_mapping("client"), "scarf", None, 1)[1]
    "'scarf' is not in this data set's label mapping: choose its class, or (dropped)"
    >>> added_label_rows(load_mapping("client"), "scarf", DROPPED, 1)
    ([LabelRow(raw_label='scarf', class_name=None, count=0)], None)
    """
    raw = raw.strip()
    if not raw:
        return [], None
    if chosen == DROPPED:
        return [LabelRow(raw, None, 0)], None
    if chosen is not None:
        return [LabelRow(raw, chosen, int(count))], None
    if mapping is not None and raw in mapping.rules:
        return [LabelRow(raw, name, n) for name, n in mapping.label_counts(raw)], None
    return [], f"{raw!r} is not in this data set's label mapping: choose its class, or {DROPPED}"


# ---------------------------------------------------------------- batch pre-annotation


@dataclass
class PreannotationReport:
    annotated: int = 0
    instances: int = 0
    skipped: int = 0  # reviewed, or annotated already
    conflicts: int = 0  # saved by someone while the model ran
    failed: list[str] = field(default_factory=list)  # unreadable photos, with the reason

    def summary(self) -> str:
        text = f"pre-annotated {self.annotated} images ({self.instances} instances); skipped {self.skipped} reviewed or already annotated"
        if self.conflicts:
            text += f"; {self.conflicts} saved by someone else meanwhile, left as they were"
        if self.failed:
            text += f"; {len(self.failed)} could not be read"
        return text


def preannotate(
    store: AnnotationStore,
    dataset: str,
    segmenter,
    *,
    model_name: str,
    overwrite: bool = False,
    limit: int | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> PreannotationReport:
    """Save the model's instances as unreviewed annotations (origin ``model``) on every image still to do.

    Images already reviewed are never touched; images with annotations are
    skipped unless ``overwrite`` (then only ones nobody reviewed). Each image is
    its own change, so a crash keeps what was done and a rerun continues.
    """
    category_ids = store.category_ids(dataset)
    author = MODEL_AUTHOR_PREFIX + model_name
    report = PreannotationReport()
    images = store.images(dataset)
    todo = [im for im in images if not im.reviewed and (overwrite or not store.annotations(im.id))]
    report.skipped = len(images) - len(todo)
    if limit is not None:
        todo = todo[:limit]
    for n, image in enumerate(todo):
        if on_progress is not None:
            on_progress(n, len(todo), image.file_name)
        problem = file_name_problem(image.file_name)
        if problem:  # a store filled before import refused such names: never read outside its folder
            report.failed.append(f"{image.file_name}: {problem}")
            continue
        try:
            result = segmenter.predict(image.path)
        except (ImageLoadError, OSError) as exc:
            report.failed.append(f"{image.file_name}: {exc}")
            continue
        try:
            draft = Draft.from_prediction(image, result, list(category_ids))
        except ValueError as exc:  # the photo decodes to another size than the store has
            report.failed.append(f"{image.file_name}: {exc}")
            continue
        try:
            store.save_annotations(image.id, draft.new_annotations(category_ids), expected_revision=image.revision,
                                   author=author, reviewed=False)
        except ConflictError:
            report.conflicts += 1
            continue
        report.annotated += 1
        report.instances += len(draft.kept())
    if on_progress is not None:
        on_progress(len(todo), len(todo), "")
    return report
