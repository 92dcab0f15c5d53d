"""lmkviz.lesson and lmkviz.viz.lesson: the numbers and figures of the Lesson page."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from lmkviz import lesson
from lmkviz.viz import lesson as vles

ROWS = [  # Compare-table rows of two evaluations, as ui.lesson.evaluation_rows builds them
    {"decoder": "argmax", "nme": 5.0, "fr10": 2.0, "flip": False, "n": 10},
    {"decoder": "dark", "nme": 4.0, "fr10": 1.0, "flip": False, "n": 10},
    {"decoder": "argmax", "nme": 4.9, "fr10": 2.0, "flip": True, "n": 10},
    {"decoder": "dark", "nme": 3.8, "fr10": 1.0, "flip": True, "n": 10},
]


def write_comparison(path, regression=(30.0, 12.0, 9.0), heatmap=(20.0, 6.0, 3.0)):
    target = np.full((2, 68, 2), 64.0)
    data = {"settings": {"input_size": 128, "epochs": 3}, "target": target.tolist(), "models": {
        kind: {"model": name, "decoder": decoder, "nme": list(nme), "train_seconds": 120.0,
               "points": (target + shift).tolist(), "sample_nme": [1.0, 2.0]}
        for kind, name, decoder, nme, shift in (("regression", "resnet18_regression", "direct", regression, 3.0),
                                                 ("heatmap", "unet_resnet18", "dark", heatmap, 0.5))}}
    path.write_text(json.dumps(data))
    return path


def test_regression_comparison_reads_the_bench_result(tmp_path):
    comparison = lesson.load_regression_comparison(write_comparison(tmp_path / "r.json"))
    assert comparison.epochs == [1, 2, 3]
    assert comparison.final("regression") == 9.0 and comparison.better() == "heatmap"
    assert comparison.ratio() == pytest.approx(3.0)
    np.testing.assert_allclose(comparison.errors("regression", 0), np.hypot(3.0, 3.0))
    assert comparison.minutes("heatmap") == 2.0


def test_regression_comparison_says_how_to_make_a_missing_or_bad_file(tmp_path):
    with pytest.raises(ValueError, match="bench/lesson_regression.py"):
        lesson.load_regression_comparison(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"models": {}}')
    with pytest.raises(ValueError, match="not a result of bench/lesson_regression.py"):
        lesson.load_regression_comparison(tmp_path / "bad.json")


def test_the_shipped_comparison_shows_heatmaps_beating_direct_regression():
    """The committed result of bench/lesson_regression.py: same data and budget, heatmaps win clearly."""
    comparison = lesson.load_regression_comparison()
    assert comparison.models == {"regression": "resnet18_regression", "heatmap": "unet_resnet18"}
    assert len(comparison.nme["regression"]) == len(comparison.nme["heatmap"]) >= 5
    assert comparison.better() == "heatmap" and comparison.ratio() > 1.3
    n = len(comparison.target)
    assert n >= 4 and comparison.points["regression"].shape == comparison.points["heatmap"].shape == (n, 68, 2)


def test_the_stored_points_belong_to_the_faces_the_page_draws():
    """The page redraws synthetic val faces 0..n-1 at 128 px: the stored truth is theirs."""
    comparison = lesson.load_regression_comparison()
    _, points = lesson.lesson_face(1)
    np.testing.assert_allclose(comparison.target[1], points, atol=0.01)


def test_empty_map_loss_grows_like_sigma_squared():
    small, large = lesson.empty_map_loss(1.0, 32), lesson.empty_map_loss(2.0, 32)
    # the sum of a squared Gaussian over the plane is pi sigma^2: the mean over 32^2 cells
    assert small == pytest.approx(math.pi / 1024, rel=0.01)
    assert large / small == pytest.approx(4.0, rel=0.01)
    assert lesson.empty_loss_ratio(2.0, 0.5) == pytest.approx(large / lesson.empty_map_loss(0.5, 32))


def test_sigma_tradeoff_has_both_sides():
    result = lesson.sigma_tradeoff([1.0, 4.0], n=64)
    assert result["x"] == [1.0, 4.0]
    assert result["empty_loss"][1] > 10 * result["empty_loss"][0]  # wide blobs: a strong training signal
    assert result["dark"][1] > 2 * result["dark"][0]  # ... but noise moves their flat top


def test_rounding_map_is_a_distribution_centred_on_the_point():
    point = (10.3, 20.8)
    probabilities = lesson.rounding_map(point, 32)
    assert probabilities.sum() == pytest.approx(1.0) and (probabilities > 0).sum() == 4
    rows, cols = np.mgrid[:32, :32]
    mean = ((cols + 0.5) * probabilities).sum(), ((rows + 0.5) * probabilities).sum()
    assert mean == pytest.approx(point)


def test_topk_of_the_rounding_map_recovers_the_point_and_argmax_does_not():
    point = (46.6432, 10.5472)  # the blog's point on a 64-cell map
    _, found = lesson.topk_demo(point, 64, k=4)
    assert found["topk"] == pytest.approx(list(point), abs=1e-6)
    assert found["argmax"] == pytest.approx([46.5, 10.5])
    _, one = lesson.topk_demo(point, 64, k=1)
    assert one["topk"] == pytest.approx(found["argmax"])


def test_feature_strides_tell_hrnet_from_unet():
    unet = lesson.feature_strides("unet_resnet18", 64, stride=4)
    hrnet = lesson.feature_strides("hrnet18_small", 64)
    assert [layer.order for layer in unet] == list(range(len(unet)))
    assert max(layer.stride for layer in unet) == 32 and unet[-1].stride == 4  # down to 1/32, back to the output
    assert hrnet[-1].stride == 4 and {4, 8, 16, 32} <= {layer.stride for layer in hrnet}
    assert lesson.stride_summary(hrnet)["always_fine"] and not lesson.stride_summary(unet)["always_fine"]


@pytest.fixture(scope="module")
def shipped():
    from lmkviz.inference import Predictor

    return Predictor(lesson.LESSON_CHECKPOINT)


def test_face_view_runs_the_model_and_the_flip_test(shipped):
    from lmkviz.data import flip_perm_for, scheme_for

    image, target = lesson.lesson_face(0)
    plain = lesson.face_view(shipped.model, shipped.codec, image)
    assert plain.maps.shape == (68, 32, 32) and plain.stride == 4.0 and plain.mirrored is None
    assert set(plain.points) == set(shipped.codec.decoders)
    assert lesson.mean_error(plain.points["dark"], target) < 8.0  # a trained model: a few px at 128 px
    np.testing.assert_allclose(plain.to_heatmap(target), target / 4)
    perm = flip_perm_for(scheme_for(68), range(68))
    flipped = lesson.face_view(shipped.model, shipped.codec, image, perm)
    mirrored_maps = flipped.maps * 2 - plain.maps  # the average of the two passes
    assert flipped.mirrored["argmax"] == pytest.approx(
        shipped.codec.decode(torch.as_tensor(mirrored_maps)[None], "argmax")[0].numpy(), abs=1e-4)
    assert not np.allclose(flipped.points["dark"], plain.points["dark"])


def test_flip_effect_and_decoder_summary():
    effect = lesson.flip_effect(ROWS)
    assert (effect["plain"], effect["flip"], effect["n"]) == (4.0, 3.8, 10)
    assert effect["change"] == pytest.approx(-5.0)
    summary = lesson.decoder_summary(ROWS)
    assert summary["best"] == "dark" and summary["gain"] == pytest.approx(20.0)
    assert summary["best_flip_nme"] == 3.8
    assert lesson.best_in_table(ROWS[:2]) == "dark"


def test_model_history_comes_from_the_run_folder(tmp_path):
    epochs = lesson.model_history()
    assert len(epochs) == 30 and {"argmax", "dark"} <= set(epochs[-1]["val_nme"])
    assert lesson.model_history(tmp_path / "none") == []


def test_lesson_dataset_prefers_face68():
    assert lesson.lesson_dataset(["lapa", "face68"]) == "face68"
    assert lesson.lesson_dataset(["lapa"]) == "synthetic"


# --------------------------------------------------------------------------- figures


def test_figures_carry_the_numbers(tmp_path):
    comparison = lesson.load_regression_comparison(write_comparison(tmp_path / "r.json"))
    curves = vles.regression_curves_figure(comparison.epochs, comparison.nme)
    assert [list(t.y) for t in curves.data] == [[30.0, 12.0, 9.0], [20.0, 6.0, 3.0]]
    image = np.zeros((128, 128, 3), np.uint8)
    face = vles.regression_face_figure(image, comparison.target[0], {k: comparison.points[k][0]
                                                                     for k in comparison.KINDS})
    names = [t.name for t in face.data]
    assert "true points" in names and "direct (x, y) regression" in names and "heatmaps + DARK" in names

    tradeoff = {"x": [1.0, 2.0], "empty_loss": [0.001, 0.004], "argmax": [1.5, 2.0], "dark": [0.3, 1.0]}
    fig = vles.sigma_tradeoff_figure(tradeoff, 2.0)
    assert list(fig.data[0].y) == pytest.approx([1.0, 4.0])  # shown in units of 10^-3

    layers = {"U-Net": lesson.feature_strides("unet_resnet18", 64, stride=4),
              "HRNet": lesson.feature_strides("hrnet18_small", 64)}
    strides = vles.strides_figure(layers, connect=["U-Net"])
    assert len(strides.data) == 3  # U-Net: line and dots; HRNet: dots only
    assert list(strides.data[1].y) == [math.log2(layer.stride) for layer in layers["U-Net"]]

    bars = vles.compare_bars_figure(ROWS)
    assert [list(t.y) for t in bars.data] == [[5.0, 4.0], [4.9, 3.8]]
    flip = vles.flip_figure(image, comparison.target[0], {"plain": comparison.target[0]}, focus=[0, 1])
    assert flip.layout.xaxis.range is not None


@pytest.mark.parametrize("regression, heatmap, answer", [
    ((30.0, 9.0), (20.0, 3.0), 1),   # heatmaps 3x better
    ((30.0, 3.0), (20.0, 9.0), 0),   # regression better
    ((30.0, 3.2), (20.0, 3.0), 2),   # within 15 %: about the same
    ((30.0, 3.0), (20.0, 3.4), 2),
])
def test_step_one_answer_follows_the_measured_final_errors(tmp_path, regression, heatmap, answer):
    comparison = lesson.load_regression_comparison(write_comparison(tmp_path / "r.json", regression, heatmap))
    assert lesson.regression_answer(comparison) == answer


@pytest.mark.parametrize("change, answer", [(-3.0, 0), (-34.9, 0), (-35.0, 1), (-60.0, 1), (0.0, 2), (2.5, 2),
                                            (float("nan"), 2)])
def test_flip_answer_follows_the_measured_change(change, answer):
    assert lesson.flip_answer({"change": change}) == answer


@pytest.mark.parametrize("gain, answer", [(0.0, 0), (9.9, 0), (10.0, 1), (40.0, 1), (40.1, 2), (75.0, 2)])
def test_decoder_answer_follows_the_share_of_argmax_error_removed(gain, answer):
    assert lesson.decoder_answer({"gain": gain}) == answer
    assert lesson.decoder_answer(lesson.decoder_summary(ROWS)) == 1  # DARK removes 20 % of argmax's 5 %


def test_architecture_answer_is_hrnet_on_the_real_networks():
    unet = lesson.feature_strides("unet_resnet18", 64, stride=4)
    hrnet = lesson.feature_strides("hrnet18_small", 64)
    assert lesson.architecture_answer({"unet": unet, "hrnet": hrnet}) == 1
    assert lesson.architecture_answer({"unet": hrnet, "hrnet": hrnet}) == 2
    assert lesson.architecture_answer({"unet": unet, "hrnet": unet}) == 0
