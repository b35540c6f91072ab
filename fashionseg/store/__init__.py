"""The annotation store (``fashionseg.store``): a COCO-shaped database with revisions and history.

Example:
    >>> from fashionseg.store import AnnotationStore
    >>> store = AnnotationStore("sqlite://")
    >>> store.datasets()
    []
"""

from fashionseg.store.coco_io import PreparedImport, export_coco, import_coco, prepare_import, write_import
from fashionseg.store.store import (
    AnnotationRecord,
    AnnotationStore,
    ConflictError,
    ImageLabel,
    ImageRecord,
    NewAnnotation,
    StoreBusyError,
    StoreError,
    StoreNotFoundError,
)

__all__ = [
    "AnnotationRecord",
    "AnnotationStore",
    "ConflictError",
    "ImageLabel",
    "ImageRecord",
    "NewAnnotation",
    "PreparedImport",
    "StoreBusyError",
    "StoreError",
    "StoreNotFoundError",
    "export_coco",
    "import_coco",
    "prepare_import",
    "write_import",
]
