"""FashionSeg: fashion classification and segmentation.

The package is organised one module per concept:

- :mod:`fashionseg.core.vocabulary` and :mod:`fashionseg.core.mapping`: class vocabularies and
  editable label mappings (data files under ``fashionseg/data``).
- :mod:`fashionseg.core.images`: safe image loading, letterboxing and its inverse.
- :mod:`fashionseg.models.augment`: the thesis' training augmentation.
- :mod:`fashionseg.core.masks`: binary masks, COCO RLE, boxes.
- :mod:`fashionseg.core.coco`: building, validating and writing COCO documents.
- :mod:`fashionseg.convert`: CCP, iMaterialist and Fashionpedia converters.
- :mod:`fashionseg.core.split`: the deterministic train/validation split.
- :mod:`fashionseg.core.metrics`: the thesis' metrics and COCO mask AP.
- :mod:`fashionseg.store`: the annotation store (SQLite/SQLAlchemy).
"""

__version__ = "0.1.0"
