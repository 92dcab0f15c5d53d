"""The shipped checkpoint (checkpoints/default.pt): small, safe to load, and it finds faces' landmarks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmkviz import checkpoint as ckpt
from lmkviz.evaluation import evaluate
from lmkviz.inference import Predictor

PATH = ckpt.DEFAULT_CHECKPOINT


def test_it_is_shipped_small_and_loads_with_weights_only():
    assert PATH.is_file(), "checkpoints/default.pt is missing"
    assert PATH.stat().st_size <= 25 * 2**20
    data = torch.load(PATH, map_location="cpu", weights_only=True)
    ckpt.validate(data)
    loaded = ckpt.load_for_inference("default")
    assert loaded.num_points == 68 and loaded.scheme_name == "ibug68"
    assert list(loaded.indices) == list(range(68))


def test_it_puts_landmarks_on_the_astronauts_face():
    from skimage import data

    image = data.astronaut()  # 512x512, one face
    prediction = Predictor("default").predict(image)
    face = prediction.face
    assert face is not None
    for method, points in prediction.points.items():
        assert points.shape == (68, 2) and np.isfinite(points).all()
        inside = ((points[:, 0] > face.x0 - 0.2 * face.width) & (points[:, 0] < face.x1 + 0.2 * face.width)
                  & (points[:, 1] > face.y0 - 0.2 * face.height) & (points[:, 1] < face.y1 + 0.2 * face.height))
        assert inside.mean() > 0.95, method
        # iBUG order: the subject's right eye (36-41) is on the image's left of the left eye (42-47),
        # the eyes are above the nose tip (30), which is above the mouth (48-67)
        assert points[36:42, 0].mean() < points[42:48, 0].mean()
        assert points[36:48, 1].mean() < points[30, 1] < points[48:68, 1].mean()


def test_flip_test_agrees_with_the_plain_prediction():
    """The flip test mirrors the crop, runs it, mirrors the heatmaps back and swaps left/right
    channels: on a real face it moves points by about 1 % of the inter-ocular distance. With a
    wrong permutation (say the identity) each eye corner would average with its mirror image
    and land far off."""
    from skimage import data

    image = data.astronaut()
    plain = Predictor("default").predict(image)
    flip = Predictor("default", flip_test=True)
    assert flip.flip_perm[36] == 45 and flip.flip_perm[0] == 16 and flip.flip_perm[30] == 30
    flipped = flip.predict(image, crop=plain.crop)
    iod = np.linalg.norm(plain.points["dark"][36] - plain.points["dark"][45])
    for method, points in plain.points.items():
        moved = np.linalg.norm(flipped.points[method] - points, axis=-1) / iod
        assert moved.mean() < 0.03 and moved.max() < 0.15, method


@pytest.mark.shared_data
def test_face68_val_error_is_that_of_a_trained_model(shared_datasets):
    result = evaluate("default", shared_datasets / "face68", split="val", limit=40)
    # a trained model: a few % of the inter-ocular distance (an untrained one is > 30 %)
    assert result.summary()["nme"]["dark"] < 6.0
    assert result.summary()["nme"]["dark"] <= result.summary()["nme"]["argmax"]
