"""The annotation store (``fashionseg.store``): a COCO-shaped database with revisions and history.

Example:
    >>> from fashionseg.store import AnnotationStore
    >>> store = AnnotationStore("sqlite://")
    >>> store.datasets()
    []
"""

from fashionseg.store.coco_io import export_coco, import_coco
from fashionseg.store.store import (
    AnnotationRecord,
    AnnotationStore,
    ConflictError,
    ImageLabel,
    ImageRecord,
    NewAnnotation,
    StoreError,
)

__all__ = [
    "AnnotationRecord",
    "AnnotationStore",
    "ConflictError",
    "ImageLabel",
    "ImageRecord",
    "NewAnnotation",
    "StoreError",
    "export_coco",
    "import_coco",
]
