"""FashionSeg: fashion classification and segmentation.

The package is layered; each layer imports only from the ones above it in this list
(ARCHITECTURE.md draws the data flow):

- :mod:`fashionseg.exceptions`, :mod:`fashionseg.settings`: the one error hierarchy for
  everything a user can get wrong, and where data, weights and the store are found.
- :mod:`fashionseg.core`: vocabularies and label mappings, images, masks, COCO, the split,
  re-framing, the thesis' metrics, drawing overlays.
- :mod:`fashionseg.store`, :mod:`fashionseg.convert`: the annotation store (SQLite or
  PostgreSQL, Alembic migrations, photo import) and the data-set converters.
- :mod:`fashionseg.models`: the Mask R-CNN and the U-Net, their shared layers,
  augmentation, runtimes (ONNX Runtime or Keras) and model folders.
- :mod:`fashionseg.annotation`, :mod:`fashionseg.evaluation`: work on top of models and
  store: drafts, pre-annotation and review flags; the experiments registry, benchmarks,
  robustness runs and batch work on Ray.
- :mod:`fashionseg.app` and :mod:`fashionseg.cli`: what the Streamlit pages
  (``app_pages/``) and the ``fashionseg`` command use.
"""

__version__ = "0.2.0"
