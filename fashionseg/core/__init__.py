"""The core library: what every other layer builds on, with no model and no UI in it.

- :mod:`~fashionseg.core.vocabulary`, :mod:`~fashionseg.core.mapping`: class vocabularies and
  editable label mappings (data files under ``fashionseg/data``).
- :mod:`~fashionseg.core.images`: safe image loading, letterboxing and its inverse.
- :mod:`~fashionseg.core.masks`: binary masks, COCO RLE, boxes.
- :mod:`~fashionseg.core.coco`: building, validating and writing COCO documents.
- :mod:`~fashionseg.core.split`: the deterministic train/validation split.
- :mod:`~fashionseg.core.framing`: exact re-framing of a photo and its masks (crops, scales, canvases).
- :mod:`~fashionseg.core.variants`: re-framed, re-lit, re-compressed copies of a COCO set (robustness).
- :mod:`~fashionseg.core.metrics`: the thesis' metrics and COCO mask AP.
- :mod:`~fashionseg.core.overlay`: instances and cutouts drawn on a photo.
- :mod:`~fashionseg.core.files`: atomic writes and safe file names.
"""
