"""The models and their shared plumbing.

- :mod:`~fashionseg.models.maskrcnn`: the instance-segmentation Mask R-CNN (thesis, Appendix B).
- :mod:`~fashionseg.models.unet`: the garment-cutout U-Net (the U-Net report).
- :mod:`~fashionseg.models.layers`: layers both models use (input normalisation, ImageNet backbones).
- :mod:`~fashionseg.models.augment`: training augmentation (the thesis', re-framing, copy-paste).
- :mod:`~fashionseg.models.model_folder`: a trained model's folder (config, weights) read safely.
- :mod:`~fashionseg.models.runtime`: ONNX Runtime or Keras, chosen once for both predictors.

Everything that builds a graph uses ``keras.ops`` only, so the models train on JAX and run on TensorFlow.
"""
