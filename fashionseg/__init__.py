"""FashionSeg: fashion classification and segmentation.

The package is organised one module per concept:

- :mod:`fashionseg.vocabulary` and :mod:`fashionseg.mapping`: class vocabularies and
  editable label mappings (data files under ``fashionseg/data``).
- :mod:`fashionseg.images`: safe image loading, letterboxing and its inverse.
- :mod:`fashionseg.augment`: the thesis' training augmentation.
- :mod:`fashionseg.masks`: binary masks, COCO RLE, boxes.
- :mod:`fashionseg.coco`: building, validating and writing COCO documents.
- :mod:`fashionseg.convert`: CCP, iMaterialist and Fashionpedia converters.
- :mod:`fashionseg.split`: the deterministic train/validation split.
- :mod:`fashionseg.metrics`: the thesis' metrics and COCO mask AP.
- :mod:`fashionseg.store`: the annotation store (SQLite/SQLAlchemy).
"""

__version__ = "0.1.0"
