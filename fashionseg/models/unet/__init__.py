"""The garment-cutout U-Net: models, data, training, threshold, inference, evaluation."""
