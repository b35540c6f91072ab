"""Mask R-CNN on Keras 3 (work in progress: so far the configuration, ``config.py``)."""
