"""The Annotate page's state: one annotator's session on a data set, canvas pictures, image-level labels.

The drafts themselves (:mod:`fashionseg.annotation.draft`), pre-annotation
and review flags live in :mod:`fashionseg.annotation`; this module holds what
only the page needs around them.

Example:
    >>> session = AnnotationSession("client")
    >>> session.current is None and session.last_saved is None
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from fashionseg.annotation.canvas import ERASE_COLOUR, CanvasFrame
from fashionseg.annotation.draft import Draft, instance_names
from fashionseg.core.mapping import LabelMapping
from fashionseg.core.masks import mask_bbox
from fashionseg.core.overlay import CLASS_COLOURS, draw_instances
from fashionseg.store import AnnotationStore, ImageLabel, ImageRecord, StoreError

# ---------------------------------------------------------------- what the canvas shows


def canvas_background(
    photo: np.ndarray, draft: Draft, selected: int | None, frame: CanvasFrame, quality: int = 90
) -> bytes:
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
    return [
        LabelRow(x.raw_label, names.get(x.category_id) if x.category_id is not None else None, x.count)
        for x in store.image_labels(image_id)
    ]


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
        labels.append(
            ImageLabel(
                row.raw_label.strip(), None if dropped else ids[row.class_name], 0 if dropped else int(row.count)
            )
        )
    return store.save_image_labels(image.id, labels, expected_revision=image.revision, author=author)


def rule_from_counts(counts: dict[str, int]) -> list[str]:
    """A mapping rule's class list from class -> objects per label (``{'shoe': 2}`` -> ``['shoe', 'shoe']``)."""
    return [name for name, n in counts.items() for _ in range(int(n))]


# ---------------------------------------------------------------- importing an upload


def import_upload(
    store: AnnotationStore, data: bytes, file_name: str, image_dir: str, dataset: str, author: str, on_progress=None
) -> int:
    """Import an uploaded COCO file and its images folder as a new data set; returns its id.

    The same checks as ``fashionseg store import``, all before anything is written
    (:func:`fashionseg.store.photo_import.import_coco_upload`).

    Raises:
        FashionSegError: not UTF-8 JSON, a bad document or image (InvalidCocoError), a taken name (StoreError).
    """
    from fashionseg.store.photo_import import import_coco_upload

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

    def draft(
        self, store: AnnotationStore, image: ImageRecord, predict: Callable[[ImageRecord], Draft | None] | None = None
    ) -> tuple[int, Draft]:
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


# ---------------------------------------------------------------- export


# ---------------------------------------------------------------- labels the annotator adds

DROPPED = "(dropped)"


def added_label_rows(
    mapping: LabelMapping | None, raw: str, chosen: str | None, count: int
) -> tuple[list[LabelRow], str | None]:
    """The rows of a client label the annotator adds, or ``([], why)`` while its class is still open.

    A label the data set's mapping knows gets the mapping's classes unless a class is chosen; an unknown
    word gets nothing until the annotator chooses its class (or ``(dropped)``): never a silent default.

    >>> from fashionseg.core.mapping import load_mapping
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
