import math

import numpy as np
import pytest
import torch

from lmkviz import metrics


def face(n=1, k=68):
    t = torch.zeros(n, k, 2)
    t[:, 36] = torch.tensor([10.0, 20.0])
    t[:, 45] = torch.tensor([50.0, 20.0])  # inter-ocular distance 40
    return t


def test_nme_hand_computed():
    target = face()
    pred = target.clone()
    pred[0, 0] += torch.tensor([3.0, 4.0])  # one point 5 px off
    # mean error = 5 / 68, normalised by 40
    assert metrics.nme(pred, target).item() == pytest.approx(5 / 68 / 40)
    pred2 = target + torch.tensor([0.0, 2.0])  # all points 2 px off
    assert metrics.nme(pred2, target).item() == pytest.approx(2 / 40)


def test_nme_per_image_and_custom_eye_corners_and_norm():
    target = torch.zeros(2, 5, 2)
    target[:, 1] = torch.tensor([0.0, 0.0])
    target[:, 3] = torch.tensor([0.0, 10.0])
    pred = target.clone()
    pred[1] += 1.0  # every point off by sqrt(2)
    e = metrics.nme(pred, target, eye_corners=(1, 3))
    assert e.shape == (2,) and e[0] == 0 and e[1].item() == pytest.approx(math.sqrt(2) / 10)
    e2 = metrics.nme(pred, target, norm=torch.tensor([1.0, 2.0]))
    assert e2[1].item() == pytest.approx(math.sqrt(2) / 2)


def test_nme_ignores_invisible_points():
    target = face()
    target[0, 5] = float("nan")
    pred = target.clone()
    pred[0, 5] = torch.tensor([1e6, 1e6])
    pred[0, 6] += torch.tensor([0.0, 6.7])
    assert metrics.nme(pred, target).item() == pytest.approx(6.7 / 67 / 40)


def test_nme_accepts_numpy_and_checks_shapes():
    target = face().numpy()
    assert metrics.nme(target, target).item() == 0
    with pytest.raises(ValueError, match="eye corners"):
        metrics.nme(np.zeros((1, 5, 2)), np.zeros((1, 5, 2)))
    with pytest.raises(ValueError, match=r"\(N, K, 2\)"):
        metrics.nme(np.zeros((1, 68, 2)), np.zeros((1, 67, 2)))


def test_failure_rate_and_auc_hand_computed():
    errors = torch.tensor([0.02, 0.05, 0.08, 0.12, 0.30])
    assert metrics.failure_rate(errors).item() == pytest.approx(0.4)
    # AUC@10: mean of max(0, 1 - e/0.1) = (0.8 + 0.5 + 0.2 + 0 + 0) / 5
    assert metrics.auc(errors).item() == pytest.approx(0.3)
    assert metrics.auc(torch.zeros(3)).item() == 1.0
    assert metrics.auc(torch.full((3,), 0.2)).item() == 0.0


def test_auc_equals_the_integral_of_the_ced_curve():
    g = torch.Generator().manual_seed(0)
    errors = torch.rand(200, generator=g, dtype=torch.float64) * 0.15
    t = torch.linspace(0, 0.1, 100001, dtype=torch.float64)
    curve = metrics.ced(errors, t)
    integral = torch.trapezoid(curve, t) / 0.1
    assert metrics.auc(errors).item() == pytest.approx(integral.item(), abs=1e-4)
    assert curve[0] == 0 and curve[-1] == (errors <= 0.1).double().mean()


def test_nmae_is_the_blog_metric():
    target = torch.zeros(1, 2, 2)
    pred = torch.tensor([[[2.0, 1.0], [0.0, 3.0]]])
    # |dx|/W, |dy|/H averaged over the 4 coordinates: (2/200 + 1/100 + 0 + 3/100) / 4
    assert metrics.nmae(pred, target, (100, 200)).item() == pytest.approx((0.01 + 0.01 + 0.03) / 4)


def test_summarize_gives_percentages():
    s = metrics.summarize(torch.tensor([0.02, 0.04, 0.2]))
    assert s["nme"] == pytest.approx(26 / 3)
    assert s["fr10"] == pytest.approx(100 / 3)
    assert s["auc10"] == pytest.approx((0.8 + 0.6) / 3 * 100)


def test_missing_predictions_count_as_failed_points_not_as_invisible():
    """The decoders return NaN for a map without a peak: that point failed, it did not vanish."""
    target = face(2)
    target[1, 3] = float("nan")  # invisible in the target: left out
    pred = target.clone()
    pred[0, 0] = float("nan")  # visible target, no prediction: one inter-ocular distance off
    pred[1, 3] = float("nan")
    e = metrics.nme(pred, target)
    assert torch.isfinite(e).all()
    assert e[0].item() == pytest.approx(1 / 68) and e[1].item() == 0
    assert metrics.summarize(e)["nme"] == pytest.approx(100 / 68 / 2)
    assert metrics.nmae(pred, target, 100).item() == pytest.approx(2 / (2 * (68 * 2 - 2) + 2))
