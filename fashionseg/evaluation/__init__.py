"""Measuring models: the experiments registry, latency benchmarks, robustness runs, batch work on Ray.

- :mod:`~fashionseg.evaluation.registry`: one JSON record per evaluation, read by the Experiments page.
- :mod:`~fashionseg.evaluation.benchmark`: ``fashionseg bench`` (median and spread per stage).
- :mod:`~fashionseg.evaluation.robustness`: a model on re-framed, re-lit, re-compressed variants of a test set.
- :mod:`~fashionseg.evaluation.ray_batch`: evaluation and pre-annotation of many photos on a Ray cluster.

Each model's own scoring lives beside it (``models/maskrcnn/evaluate.py``, ``models/unet/evaluate.py``).
"""
