"""Metrics against a confusion matrix and scores computed by hand."""

import math
import warnings

import numpy as np
import pytest
import torch

from urur.evaluation.metrics import confusion_matrix, segmentation_metrics


def test_confusion_matrix_by_hand_with_ignored_pixels():
    target = np.array([[0, 0, 1], [1, 2, 255]])
    pred = np.array([[0, 1, 1], [1, 0, 2]])  # the prediction under 255 is not counted
    expected = np.array([[1, 1, 0], [0, 2, 0], [1, 0, 0]])
    got = confusion_matrix(pred, target, num_classes=3)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(
        confusion_matrix(torch.from_numpy(pred), torch.from_numpy(target), 3), expected
    )


def test_uint8_masks_of_many_classes_are_counted_without_wrapping_around():
    """Class 19 of 20 indexes cell 19 * 20 + 19 = 399 of the flat counts: past uint8's 255."""
    target = np.array([19, 19, 0, 18], dtype=np.uint8)
    pred = np.array([19, 0, 0, 19], dtype=np.uint8)
    got = confusion_matrix(pred, target, num_classes=20)
    expected = np.zeros((20, 20), np.int64)
    expected[19, 19] = expected[19, 0] = expected[0, 0] = expected[18, 19] = 1
    np.testing.assert_array_equal(got, expected)


def test_metrics_by_hand_with_absent_class():
    # class 0: TP 1, FP 1, FN 1 -> IoU 1/3, F1 2/4; class 1: TP 2, FP 1, FN 0 -> IoU 2/3, F1 4/5;
    # class 2: TP 0, FN 1 -> IoU 0, F1 0; class 3 absent from target and prediction -> NaN.
    confusion = np.array([[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    m = segmentation_metrics(confusion)
    assert m["IoU"][:3] == pytest.approx([1 / 3, 2 / 3, 0.0])
    assert m["F1"][:3] == pytest.approx([0.5, 0.8, 0.0])
    assert math.isnan(m["IoU"][3]) and math.isnan(m["F1"][3])
    assert m["mIoU"] == pytest.approx((1 / 3 + 2 / 3 + 0) / 3)
    assert m["mF1"] == pytest.approx((0.5 + 0.8 + 0) / 3)
    assert m["aAcc"] == pytest.approx(3 / 5)


def test_confusion_matrix_accumulates_over_images():
    rng = np.random.default_rng(0)
    a_t, a_p = rng.integers(0, 4, (2, 9, 7))
    b_t, b_p = rng.integers(0, 4, (2, 5, 11))
    whole = confusion_matrix(
        np.concatenate([a_p.ravel(), b_p.ravel()]), np.concatenate([a_t.ravel(), b_t.ravel()]), 4
    )
    np.testing.assert_array_equal(confusion_matrix(a_p, a_t, 4) + confusion_matrix(b_p, b_t, 4), whole)
    assert whole.sum() == 9 * 7 + 5 * 11


def test_values_outside_the_class_table_are_refused():
    with pytest.raises(ValueError, match=r"target holds values \[9\] outside the class values 0..3"):
        confusion_matrix(np.zeros((2, 2)), np.array([[0, 9], [1, 255]]), 4)
    with pytest.raises(ValueError, match="prediction shape"):
        confusion_matrix(np.zeros((2, 2)), np.zeros((2, 3)), 4)
    with pytest.raises(ValueError, match="square"):
        segmentation_metrics(np.zeros((2, 3)))


def test_one_class_is_a_valid_class_table():
    np.testing.assert_array_equal(confusion_matrix(np.zeros((2, 3)), np.zeros((2, 3)), num_classes=1), [[6]])
    with pytest.raises(ValueError, match="num_classes must be positive, got 0"):
        confusion_matrix(np.zeros(2), np.zeros(2), num_classes=0)


def test_predicted_values_outside_the_classes_are_refused_by_name():
    # num_classes itself is the first value outside 0..num_classes-1.
    with pytest.raises(ValueError, match=r"^prediction holds values \[3\] outside the class values 0..2"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)
    # At most ten offending values are listed.
    with pytest.raises(ValueError, match=r"^target holds values \[3, 4, 5, 6, 7, 8, 9, 10, 11, 12\] outside"):
        confusion_matrix(np.zeros(12), np.arange(3, 15), 3)


def test_excluded_classes_keep_their_scores_but_leave_the_means():
    # class 0: IoU 1/3, F1 1/2; class 1: IoU 2/3, F1 4/5; class 2: IoU 0, F1 0 (see above).
    confusion = np.array([[1, 1, 0], [0, 2, 0], [1, 0, 0]])
    m = segmentation_metrics(confusion, exclude=[2])
    assert m["IoU"] == pytest.approx([1 / 3, 2 / 3, 0.0])
    assert m["mIoU"] == pytest.approx((1 / 3 + 2 / 3) / 2)
    assert m["mF1"] == pytest.approx((0.5 + 0.8) / 2)
    assert m["aAcc"] == pytest.approx(3 / 5)


def test_empty_and_single_pixel_confusions_without_numpy_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "mean of empty slice" or 0/0 warnings leak to the user
        empty = segmentation_metrics(np.zeros((3, 3), dtype=np.int64))
        assert all(math.isnan(empty[key]) for key in ("mIoU", "mF1", "aAcc"))
        assert all(math.isnan(v) for v in empty["IoU"] + empty["F1"])
        one = segmentation_metrics(np.array([[0, 0], [0, 1]]))  # one pixel, class 1 right
        assert one["aAcc"] == 1.0 and one["mIoU"] == 1.0 and one["mF1"] == 1.0
        assert math.isnan(one["IoU"][0])
        everything_excluded = segmentation_metrics(np.array([[2, 1], [0, 1]]), exclude=[0, 1])
        assert math.isnan(everything_excluded["mIoU"]) and math.isnan(everything_excluded["mF1"])
        assert everything_excluded["aAcc"] == pytest.approx(3 / 4)


def test_a_class_predicted_but_absent_from_the_target_scores_zero_as_mmseg_counts_it():
    # target: 3 pixels of class 0, 1 of class 1; prediction: one class-0 pixel called class 2,
    # a class the target lacks. Hand-made confusion (rows target, columns prediction):
    #   class 0: TP 2, FP 0, FN 1 -> IoU 2/3; class 1: TP 1 -> IoU 1; class 2: TP 0, FP 1 -> IoU 0.
    target = np.array([[0, 0, 0, 1]])
    pred = np.array([[0, 0, 2, 1]])
    confusion = confusion_matrix(pred, target, num_classes=3)
    np.testing.assert_array_equal(confusion, [[2, 0, 1], [0, 1, 0], [0, 0, 0]])
    m = segmentation_metrics(confusion)
    assert m["IoU"] == pytest.approx([2 / 3, 1.0, 0.0])  # 0, not NaN: the false positives count
    assert m["F1"] == pytest.approx([0.8, 1.0, 0.0])
    assert m["mIoU"] == pytest.approx((2 / 3 + 1 + 0) / 3)
