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

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from fashionseg.canvas import ERASE_COLOUR, CanvasFrame, apply_drawing
from fashionseg.coco import file_name_problem, parse_coco
from fashionseg.exceptions import ImageLoadError, UsageError
from fashionseg.masks import encode_rle, mask_bbox
from fashionseg.overlay import CLASS_COLOURS, draw_instances
from fashionseg.store import AnnotationStore, ConflictError, ImageLabel, ImageRecord, NewAnnotation, StoreError, import_coco

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
        instances = [DraftInstance(a.category_name, a.mask(), a.origin, a.score, a.coco_id) for a in store.annotations(image.id)]
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
            instance.mask, instance.origin = mask, "annotator"
            self.changed = True
        return index

    def new_annotations(self, category_ids: dict[str, int]) -> list[NewAnnotation]:
        missing = sorted({i.class_name for i in self.kept()} - set(category_ids))
        if missing:
            raise StoreError(f"the data set has no category {', '.join(missing)}")
        return [
            NewAnnotation(category_ids[i.class_name], encode_rle(i.mask), i.origin,
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


def canvas_background(photo: np.ndarray, draft: Draft, selected: int | None, frame: CanvasFrame, quality: int = 90) -> bytes:
    """JPEG of the photo at canvas size with the kept instances tinted, the one being edited strongest."""
    others = [i for k, i in enumerate(draft.instances) if i.keep and k != selected and i.area]
    shown = draw_instances(photo, [(i.class_name, 0.0, _box(i.mask), i.mask) for i in others], opacity=0.3, boxes=False, labels=False)
    if selected is not None and draft.instances[selected].area:
        chosen = draft.instances[selected]
        shown = draw_instances(shown, [(chosen.class_name, 0.0, _box(chosen.mask), chosen.mask)], opacity=0.6, boxes=False, labels=False)
    small = cv2.resize(shown, (frame.canvas_width, frame.canvas_height), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
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


def import_upload(store: AnnotationStore, data: bytes, file_name: str, image_dir: str, dataset: str, author: str) -> int:
    """Import an uploaded COCO file and its images folder as a new data set; returns its id.

    The same checks as ``fashionseg store import``, all before anything is written.

    Raises:
        FashionSegError: not UTF-8 JSON, a bad document or image (InvalidCocoError), a taken name (StoreError).
    """
    if not image_dir.strip():
        raise UsageError("give the folder the COCO file's file_name values are relative to")
    return import_coco(store, parse_coco(data, file_name), image_dir.strip(), dataset.strip(), author=author, source=file_name)


# ---------------------------------------------------------------- queue


def review_queue(store: AnnotationStore, dataset: str, only_unreviewed: bool) -> list[ImageRecord]:
    return [im for im in store.images(dataset) if not (only_unreviewed and im.reviewed)]


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
