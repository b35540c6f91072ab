"""An image's instances being edited: a draft based on one revision of the store.

The Annotate page and pre-annotation keep a :class:`Draft` per image: the
store's annotations (or, for an image nobody annotated yet, the model's
prediction) as editable instances, each with a full-resolution mask.
Accepting, rejecting, relabelling and drawing change only the draft;
:meth:`Draft.save` writes it to the store as one change based on the revision
the draft was opened at, so a concurrent save by someone else raises the
store's ``ConflictError`` and the draft is kept for another try.

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

from dataclasses import dataclass, field

import numpy as np

from fashionseg.annotation.canvas import CanvasFrame, apply_drawing
from fashionseg.core.masks import encode_rle
from fashionseg.store import AnnotationStore, ImageRecord, NewAnnotation, StoreError

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
    rle: dict | None = (
        None  # the store's compressed RLE of ``mask`` while the mask is unchanged (saves re-encode nothing)
    )

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
        instances = [
            DraftInstance(a.category_name, a.mask(), a.origin, a.score, a.coco_id, rle=a.rle)
            for a in store.annotations(image.id)
        ]
        return cls(image.id, image.revision, image.height, image.width, instances, "store")

    @classmethod
    def from_prediction(cls, image: ImageRecord, result, classes: list[str]) -> Draft:
        """The model's instances as a pre-annotation; classes the data set lacks are left out."""
        if (result.height, result.width) != (image.height, image.width):
            raise ValueError(
                f"the photo decodes to {result.width} x {result.height}, the store has {image.width} x {image.height}"
            )
        instances = [
            DraftInstance(i.class_name, i.mask, "model", float(i.score))
            for i in result.instances
            if i.class_name in classes
        ]
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

    def draw(
        self, index: int | None, objects: list[dict], frame: CanvasFrame, class_name: str | None = None
    ) -> int | None:
        """Apply canvas shapes to instance ``index``, or to a new instance of ``class_name`` when ``index`` is None.

        Returns the index drawn on (None when there was nothing to apply).
        """
        if not objects:
            return index
        if (frame.height, frame.width) != (self.height, self.width):
            raise ValueError(
                f"the canvas frame is for a {frame.width} x {frame.height} photo, this one is {self.width} x {self.height}"
            )
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
            NewAnnotation(
                category_ids[i.class_name],
                i.rle if i.rle is not None else encode_rle(i.mask),
                i.origin,
                i.score if i.origin == "model" else None,
                coco_id=i.coco_id,
            )
            for i in self.kept()
        ]

    def save(self, store: AnnotationStore, dataset: str, author: str, reviewed: bool = True) -> int:
        """Write the kept instances as the image's annotations; returns the new revision.

        Raises:
            ConflictError: someone saved the image after this draft's revision; nothing was written.
        """
        revision = store.save_annotations(
            self.image_id,
            self.new_annotations(store.category_ids(dataset)),
            expected_revision=self.revision,
            author=author,
            reviewed=reviewed,
        )
        self.revision, self.changed, self.source = revision, False, "store"
        return revision


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
