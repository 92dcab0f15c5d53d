"""Losses: Adaptive Wing against its formula, keypoint-weight masking, the run's loss."""

import math

import pytest
import torch

from lmkviz.codecs import HeatmapCodec
from lmkviz.losses import adaptive_wing_loss, heatmap_loss, make_loss, resolve_loss


def _awing_cell(y, p, alpha=2.1, omega=14.0, eps=1.0, theta=0.5):
    """The paper's formula for one cell, written out with math (no weighting map)."""
    d = abs(y - p)
    a = alpha - y
    if d < theta:
        return omega * math.log(1 + (d / eps) ** a)
    big_a = omega * (1 / (1 + (theta / eps) ** a)) * a * (theta / eps) ** (a - 1) / eps
    c = theta * big_a - omega * math.log(1 + (theta / eps) ** a)
    return big_a * d - c


def test_adaptive_wing_matches_the_formula_cell_by_cell():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(2, 3, 5, 5, generator=g, dtype=torch.float64)
    pred = target + (torch.rand(2, 3, 5, 5, generator=g, dtype=torch.float64) - 0.5) * 2.0  # both branches
    got = adaptive_wing_loss(pred, target, foreground_weight=0.0)
    expected = sum(_awing_cell(y, p) for y, p in zip(target.flatten().tolist(), pred.flatten().tolist())) / target.numel()
    assert got.item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("y", [0.0, 0.3, 0.9, 1.0])
def test_adaptive_wing_is_continuous_with_a_continuous_slope_at_theta(y):
    target = torch.full((1, 1, 1, 1), y, dtype=torch.float64)
    d = torch.tensor([0.5 - 1e-6, 0.5 + 1e-6], dtype=torch.float64)
    values, slopes = [], []
    for di in d:
        pred = (target - di).requires_grad_(True)
        loss = adaptive_wing_loss(pred, target, foreground_weight=0.0)
        loss.backward()
        values.append(loss.item())
        slopes.append(pred.grad.item())
    assert values[0] == pytest.approx(values[1], abs=1e-4)
    assert slopes[0] == pytest.approx(slopes[1], rel=1e-3)


def test_adaptive_wing_pushes_harder_than_mse_on_small_errors_at_the_peak():
    target = torch.ones(1, 1, 1, 1)
    pred = torch.full((1, 1, 1, 1), 0.95, requires_grad=True)
    adaptive_wing_loss(pred, target, foreground_weight=0.0).backward()
    awing_grad = pred.grad.abs().item()
    pred.grad = None
    torch.nn.functional.mse_loss(pred, target).backward()
    assert awing_grad > 20 * pred.grad.abs().item()


def test_adaptive_wing_weighs_the_dilated_foreground():
    target = torch.zeros(1, 1, 9, 9)
    target[0, 0, 4, 4] = 1.0
    pred = torch.full_like(target, 0.1)
    near = pred.clone()
    near[0, 0, 3, 3] = 0.5  # a worse cell next to the peak (inside the 3x3 dilation)
    far = pred.clone()
    far[0, 0, 0, 0] = 0.5  # the same error far away
    plain = adaptive_wing_loss(near, target, foreground_weight=0.0) - adaptive_wing_loss(far, target, foreground_weight=0.0)
    assert plain.abs() < 1e-6
    weighted_near = adaptive_wing_loss(near, target) - adaptive_wing_loss(pred, target)
    weighted_far = adaptive_wing_loss(far, target) - adaptive_wing_loss(pred, target)
    assert weighted_near / weighted_far == pytest.approx(11.0, rel=1e-4)


@pytest.mark.parametrize("loss", ["mse", "awing"])
def test_the_run_loss_ignores_landmarks_without_a_target(loss):
    codec = HeatmapCodec(image_size=64, heatmap_size=16, encoding="gaussian", sigma=1.5)
    loss_fn = make_loss(codec, loss)
    g = torch.Generator().manual_seed(1)
    points = torch.rand(2, 4, 2, generator=g) * 48 + 8
    points[1, 2] = float("nan")  # an invisible landmark
    maps, _ = codec.encode(points)
    pred = maps.clone()
    a = loss_fn(pred, points)
    pred[1, 2] = torch.rand(16, 16, generator=g) * 5  # garbage where nothing is labelled
    assert loss_fn(pred, points).item() == pytest.approx(a.item(), abs=1e-7)
    pred[0, 1] += 0.3  # a labelled landmark does count
    assert loss_fn(pred, points).item() > a.item() + 1e-4


def test_loss_names_fit_the_encoding():
    assert resolve_loss("auto", "binary") == "bce" and resolve_loss("auto", "gaussian") == "mse"
    with pytest.raises(ValueError, match="does not fit"):
        resolve_loss("awing", "binary")
    with pytest.raises(ValueError, match="does not fit"):
        heatmap_loss(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), "gaussian", loss="bce")
