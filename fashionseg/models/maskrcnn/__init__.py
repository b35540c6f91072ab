"""The instance-segmentation Mask R-CNN on Keras 3 (thesis, Appendix B): config, graph parts, training, inference, evaluation, export."""
