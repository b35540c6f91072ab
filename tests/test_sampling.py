"""Repeat-factor sampling: rare classes come round more often, the epoch keeps its length."""

import numpy as np
import pytest

from fashionseg.models.maskrcnn.sampling import epoch_length, epoch_order, repeat_factors


def test_repeat_factors_follow_the_rarest_class_of_each_photo():
    # class 8 in every photo, class 2 in two of eight, class 7 in one of eight
    photos = [np.array([8, 2, 7]), np.array([8, 2])] + [np.array([8])] * 6
    factors = repeat_factors(photos, threshold=0.5, num_classes=11)
    assert factors[0] == pytest.approx(2.0)  # its rarest class, 7: sqrt(0.5 / (1 / 8))
    assert factors[1] == pytest.approx(np.sqrt(2.0))  # sqrt(0.5 / (2 / 8))
    assert (factors[2:] == 1.0).all()
    # a threshold no class is under repeats nothing; a photo without instances counts once
    assert (repeat_factors(photos + [np.array([], int)], 0.1, 11) == 1.0).all()
    with pytest.raises(ValueError, match="above 0"):
        repeat_factors(photos, 0.0, 11)


def test_epoch_order_repeats_photos_by_their_factor_on_average():
    factors = np.array([1.0, 1.0, 2.5, 1.0])
    length = epoch_length(factors)
    assert length == 6  # 5.5 rounded to even
    counts = np.zeros(4)
    for epoch in range(400):
        order = epoch_order(factors, np.random.default_rng((0, epoch)), length)
        assert len(order) == length
        counts += np.bincount(order, minlength=4)
    shares = counts / counts.sum()
    np.testing.assert_allclose(shares, factors / factors.sum(), atol=0.02)


def test_batches_with_repeat_factors_show_rare_photos_more_often(tmp_path):
    from fashionseg.models.maskrcnn.data import MaskRCNNBatches, examples_from_coco, prepare_all
    from tests.test_maskrcnn_model import tiny_config, write_synthetic_set

    instances, photos = write_synthetic_set(tmp_path, count=4)
    config = tiny_config()
    prepared = prepare_all(examples_from_coco(instances, photos), config.IMAGE_MAX_DIM, progress=False)
    plain = MaskRCNNBatches(prepared, config, batch_size=2, shuffle=True, seed=3)
    assert len(plain) == 2 and sorted(plain.order.tolist()) == [0, 1, 2, 3]
    # without repeat factors each epoch shuffles the previous epoch's order, as runs always have
    expected = plain.order.copy()
    np.random.default_rng((3, 1)).shuffle(expected)
    plain.on_epoch_end()
    assert plain.order.tolist() == expected.tolist()
    repeat = np.array([1.0, 1.0, 3.0, 1.0])
    batches = MaskRCNNBatches(prepared, config, batch_size=2, shuffle=True, seed=3, repeat=repeat)
    assert len(batches) == 3 and (batches.order == 2).sum() == 3  # 6 photos an epoch, photo 2 three times
    first = batches.order.copy()
    inputs, _ = batches[0]
    assert inputs["image"].shape[0] == 2
    batches.on_epoch_end()
    assert len(batches.order) == 6 and (batches.order == 2).sum() == 3
    assert MaskRCNNBatches(prepared, config, batch_size=2, shuffle=True, seed=3, repeat=repeat).order.tolist() == (
        first.tolist()
    )  # the same seed, the same order
    # the heads stage's batches carry precomputed backbone features: a repeated photo's row repeats
    features = np.arange(4, dtype=np.float32).reshape(4, 1)
    heads = MaskRCNNBatches(
        prepared, config, batch_size=2, shuffle=True, seed=3, repeat=repeat, features=[features], feature_names=["c3"]
    )
    for index in range(len(heads)):
        rows = heads.order[index * 2 : index * 2 + 2]
        np.testing.assert_array_equal(heads[index][0]["c3"], features[rows])
    with pytest.raises(ValueError, match="3 repeat factors for 4 photos"):
        MaskRCNNBatches(prepared, config, batch_size=2, shuffle=True, repeat=repeat[:3])
