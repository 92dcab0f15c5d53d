import numpy as np
import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

from lmkviz.data.augment import AugmentConfig, HorizontalFlipLandmarks, build_transform, flip_points
from lmkviz.data.schemes import IBUG68


def _blob_image(h, w, centre, sigma=2.5):
    """(H, W, 3) uint8 Gaussian blob at a continuous xy ``centre`` (evaluated at pixel centres)."""
    xs = np.arange(w) + 0.5
    ys = np.arange(h) + 0.5
    g = np.exp(-((xs[None] - centre[0]) ** 2 + (ys[:, None] - centre[1]) ** 2) / (2 * sigma**2))
    return np.repeat(np.round(255 * g).astype(np.uint8)[..., None], 3, axis=2)


def _centroid(image):
    """Intensity-weighted centroid (x, y) of a (3, H, W) tensor, pixel centres at j + 0.5."""
    m = image[0].double()
    h, w = m.shape
    xs = torch.arange(w, dtype=torch.float64) + 0.5
    ys = torch.arange(h, dtype=torch.float64) + 0.5
    total = m.sum()
    return torch.stack([(m * xs[None]).sum() / total, (m * ys[:, None]).sum() / total])


GEOMETRY_ONLY = AugmentConfig(input_size=64, strength=1.0, rotation=30.0, scale=(0.75, 1.25),
                              translate=0.1, flip=True, color=0.0)


@pytest.mark.parametrize("seed", range(12))
def test_keypoint_follows_the_blob_under_random_affine_resize_flip(seed):
    rng = np.random.default_rng(seed)
    h, w = 72, 90  # non-square: resizing scales x and y differently
    centre = np.array([rng.uniform(35, 55), rng.uniform(28, 44)])
    image = _blob_image(h, w, centre)
    transform = build_transform(GEOMETRY_ONLY, flip_perm=(0,), train=True)
    torch.manual_seed(seed)
    out, points = transform(image, centre[None])
    assert torch.isfinite(points).all()
    assert (points > 8).all() and (points < 56).all()  # blob fully inside the output
    assert (_centroid(out) - points[0].double()).abs().max() < 0.1  # measured: < 0.04


def test_eval_transform_is_a_pure_scale():
    image = _blob_image(60, 80, (30.3, 20.7), sigma=3.0)
    out, points = build_transform(AugmentConfig(input_size=64), train=False)(image, np.array([[30.3, 20.7]]))
    torch.testing.assert_close(points, torch.tensor([[30.3 * 64 / 80, 20.7 * 64 / 60]]))
    assert (_centroid(out) - points[0].double()).abs().max() < 0.1


def test_flip_matches_image_mirror_where_torchvision_is_one_pixel_off():
    h, w = 40, 50
    centre = np.array([[12.3, 20.6]])
    image = tv_tensors.Image(torch.from_numpy(_blob_image(h, w, centre[0])).permute(2, 0, 1))
    points = tv_tensors.KeyPoints(torch.tensor(centre, dtype=torch.float32), canvas_size=(h, w))
    out_image, out_points = HorizontalFlipLandmarks(flip_perm=(0,), p=1.0)(image, points)
    assert abs(_centroid(out_image.float())[0].item() - out_points[0, 0].item()) < 0.05
    assert out_points[0, 0].item() == pytest.approx(w - 12.3, abs=1e-5)
    torchvision_x = F.horizontal_flip(points)[0, 0].item()  # W - 1 - x: an index convention
    assert torchvision_x == pytest.approx(out_points[0, 0].item() - 1.0, abs=1e-5)


def test_flip_moves_each_point_onto_the_mirrored_feature():
    # three coloured blobs: red at point 0 (left), green at 1 (middle), blue at 2 (right)
    h, w = 32, 48
    points = np.array([[8.5, 10.5], [24.5, 20.5], [40.5, 12.5]])
    image = np.zeros((h, w, 3), np.uint8)
    for c, (x, y) in enumerate(points):
        image[int(y) - 1:int(y) + 2, int(x) - 1:int(x) + 2, c] = 255
    perm = (2, 1, 0)  # 0 and 2 are left/right partners
    img = tv_tensors.Image(torch.from_numpy(image).permute(2, 0, 1))
    kps = tv_tensors.KeyPoints(torch.tensor(points, dtype=torch.float32), canvas_size=(h, w))
    out_img, out_kps = HorizontalFlipLandmarks(perm, p=1.0)(img, kps)
    for i, (x, y) in enumerate(out_kps.tolist()):
        colour = out_img[:, int(y), int(x)]
        # new point i is the mirror of old point perm[i], so it sits on that point's colour
        assert colour.argmax().item() == perm[i] and colour.max().item() == 255
    np.testing.assert_allclose(out_kps[0].numpy(), [w - 40.5, 12.5])


def test_flip_twice_is_identity():
    rng = np.random.default_rng(0)
    image = torch.from_numpy(rng.integers(0, 256, (3, 20, 30), dtype=np.uint8))
    pts = torch.from_numpy(rng.uniform(0, 30, (68, 2)).astype(np.float32))
    img = tv_tensors.Image(image)
    kps = tv_tensors.KeyPoints(pts, canvas_size=(20, 30))
    flip = HorizontalFlipLandmarks(IBUG68.flip_perm, p=1.0)
    once = flip(img, kps)
    assert not torch.equal(once[1], kps)
    twice = flip(*once)
    assert torch.equal(twice[0], img)
    torch.testing.assert_close(twice[1].as_subclass(torch.Tensor), pts)
    assert isinstance(twice[1], tv_tensors.KeyPoints)


def test_flip_points_function():
    pts = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    torch.testing.assert_close(flip_points(pts, 10), torch.tensor([[[9.0, 2.0], [7.0, 4.0]]]))
    torch.testing.assert_close(flip_points(pts, 10, (1, 0)), torch.tensor([[[7.0, 4.0], [9.0, 2.0]]]))
    with pytest.raises(ValueError, match="flip_perm has 3 entries"):
        flip_points(pts, 10, (0, 1, 2))


def test_training_flip_uses_the_scheme_permutation():
    # no affine, no colour: each output is either the identity or the continuous flip
    cfg = AugmentConfig(input_size=32, rotation=0.0, scale=(1.0, 1.0), translate=0.0, color=0.0)
    transform = build_transform(cfg, flip_perm=IBUG68.flip_perm)
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    pts = rng.uniform(0, 32, (68, 2)).astype(np.float32)
    flipped = torch.from_numpy(pts.copy())
    flipped[:, 0] = 32 - flipped[:, 0]
    flipped = flipped[list(IBUG68.flip_perm)]
    seen = set()
    torch.manual_seed(0)
    for _ in range(20):
        _, out = transform(image, pts)
        if torch.allclose(out, torch.from_numpy(pts)):
            seen.add("same")
        else:
            torch.testing.assert_close(out, flipped)
            seen.add("flipped")
    assert seen == {"same", "flipped"}
    no_perm = build_transform(cfg, flip_perm=None)  # flipping not allowed without a permutation
    torch.manual_seed(0)
    for _ in range(10):
        torch.testing.assert_close(no_perm(image, pts)[1], torch.from_numpy(pts))


def test_seeded_reproducibility_and_shapes():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    pts = rng.uniform(10, 40, (68, 2))
    transform = build_transform(AugmentConfig(input_size=48), flip_perm=IBUG68.flip_perm)
    torch.manual_seed(7)
    a = transform(image, pts)
    torch.manual_seed(7)
    b = transform(image, pts)
    torch.manual_seed(8)
    c = transform(image, pts)
    assert torch.equal(a[0], b[0])
    torch.testing.assert_close(a[1], b[1], equal_nan=True, rtol=0, atol=0)
    assert not torch.equal(a[0], c[0])
    for out_img, out_pts in (a, c):
        assert out_img.shape == (3, 48, 48) and out_img.dtype == torch.float32
        assert 0.0 <= out_img.min() and out_img.max() <= 1.0
        assert out_pts.shape == (68, 2) and out_pts.dtype == torch.float32


def test_points_outside_the_output_become_nan():
    image = np.zeros((40, 40, 3), np.uint8)
    pts = np.array([[10.0, 10.0], [45.0, 10.0], [np.nan, np.nan], [-0.5, 3.0], [39.9, 39.9]])
    _, out = build_transform(AugmentConfig(input_size=20), train=False)(image, pts)
    assert torch.isfinite(out[0]).all() and torch.isfinite(out[4]).all()
    assert torch.isnan(out[1:4]).all()


def test_strength_zero_equals_eval():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    pts = rng.uniform(0, 30, (5, 2))
    zero = build_transform(AugmentConfig(input_size=24, strength=0.0), flip_perm=(4, 3, 2, 1, 0))
    ev = build_transform(AugmentConfig(input_size=24), train=False)
    for _ in range(3):
        a, b = zero(image, pts), ev(image, pts)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"strength": 1.5}, "strength"),
        ({"input_size": 4}, "input_size"),
        ({"scale": (1.1, 1.2)}, "scale"),
        ({"translate": 0.9}, "translate"),
        ({"rotation": -1.0}, "rotation"),
        ({"color": 2.0}, "color"),
    ],
)
def test_augment_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AugmentConfig(**kwargs)


def test_transform_rejects_bad_inputs():
    transform = build_transform(AugmentConfig(input_size=16), train=False)
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        transform(np.zeros((8, 8), np.uint8), np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"\(K, 2\)"):
        transform(np.zeros((8, 8, 3), np.uint8), np.zeros((3,)))


# ----------------------------------------------------------------------------- face framing

FACE_GEOMETRY = AugmentConfig(input_size=64, strength=1.0, rotation=30.0, scale=(0.75, 1.25),
                              translate=0.1, flip=True, color=0.0, framing="face", margin=1.7)


def _frame_points(centre, half):
    """Four points around ``centre`` whose bounding box is 2*half wide: they set the crop box."""
    cx, cy = centre
    return np.array([[cx - half, cy - half], [cx + half, cy - half], [cx - half, cy + half], [cx + half, cy + half]])


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("photo", [(90, 120), (900, 700)])  # the large photo takes the pre-shrink path
def test_face_crop_keypoint_follows_the_blob(seed, photo):
    rng = np.random.default_rng(seed)
    h, w = photo
    unit = min(h, w) / 90
    box_centre = np.array([w / 2 + rng.uniform(-5, 5) * unit, h / 2 + rng.uniform(-5, 5) * unit])
    blob = box_centre + rng.uniform(-6, 6, size=2) * unit
    image = _blob_image(h, w, blob, sigma=2.5 * unit)
    points = np.vstack([blob[None], _frame_points(box_centre, 14 * unit)])
    transform = build_transform(FACE_GEOMETRY, flip_perm=(0, 2, 1, 4, 3), train=True)
    torch.manual_seed(seed)
    out, pts = transform(image, points)
    assert out.shape == (3, 64, 64) and out.dtype == torch.float32
    assert torch.isfinite(pts[0]).all()
    assert (_centroid(out) - pts[0].double()).abs().max() < 0.15


def test_face_crop_without_randomness_reproduces_the_dataset_framing():
    # a photo that is itself a 1.7x crop around the landmark box (as face68's images are):
    # the face framing at strength 0 must equal resizing the whole photo
    side, margin = 100.0, 1.7
    photo = int(side * margin)  # 170 px
    centre = np.array([photo / 2, photo / 2])
    points = np.vstack([_frame_points(centre, side / 2), [[60.3, 71.9]]])
    image = _blob_image(photo, photo, points[-1], sigma=3.0)
    config = AugmentConfig(input_size=64, strength=0.0, framing="face", margin=margin)
    out, pts = build_transform(config, train=True)(image, points)
    torch.testing.assert_close(pts, torch.as_tensor(points * 64 / photo, dtype=torch.float32))
    assert (_centroid(out) - pts[-1].double()).abs().max() < 0.1
    # and evaluation never crops: it is the whole-image resize
    _, eval_pts = build_transform(config, train=False)(image, points)
    torch.testing.assert_close(eval_pts, pts)


def test_face_crop_mirror_swaps_partners_onto_their_features():
    h, w = 64, 64
    points = np.array([[20.5, 30.5], [44.5, 30.5], [32.5, 20.5], [32.5, 44.5]])
    image = np.zeros((h, w, 3), np.uint8)
    for c, (x, y) in enumerate(points[:3]):
        image[int(y) - 2:int(y) + 3, int(x) - 2:int(x) + 3, c] = 255
    config = AugmentConfig(input_size=64, strength=1.0, rotation=0.0, scale=(1.0, 1.0), translate=0.0,
                           flip=True, color=0.0, framing="face", margin=2.0)
    transform = build_transform(config, flip_perm=(1, 0, 2, 3), train=True)
    mirrored = 0
    for seed in range(8):
        torch.manual_seed(seed)
        out, pts = transform(image, points)
        flipped = bool(_centroid(out[[0, 0, 0]])[0] > 32)  # the red blob moved to the right half
        for i in range(3):
            x, y = pts[i].tolist()
            colour = out[:, int(y), int(x)]
            # new point i is the mirror of old point perm[i], so it sits on that point's colour
            source = (1, 0, 2)[i] if flipped else i
            assert colour.argmax().item() == source and colour.max().item() > 0.9
        mirrored += flipped
    assert 0 < mirrored < 8  # both outcomes happen


def test_face_crop_photometric_changes_leave_geometry_alone():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, size=(80, 80, 3), dtype=np.uint8)
    points = _frame_points((40, 40), 20)
    base = AugmentConfig(input_size=48, strength=1.0, rotation=0.0, scale=(1.0, 1.0), translate=0.0,
                         flip=False, color=0.0, framing="face")
    noisy = AugmentConfig(input_size=48, strength=1.0, rotation=0.0, scale=(1.0, 1.0), translate=0.0,
                          flip=False, color=0.5, framing="face", occlusion=1.0, blur=1.0)
    torch.manual_seed(1)
    plain, p1 = build_transform(base, train=True)(image, points)
    torch.manual_seed(1)
    changed, p2 = build_transform(noisy, train=True)(image, points)
    torch.testing.assert_close(p1, p2)
    assert (plain - changed).abs().mean() > 0.02  # the pixels did change


def test_face_crop_marks_points_that_leave_the_crop_as_nan():
    image = np.zeros((100, 100, 3), np.uint8)
    points = np.vstack([_frame_points((50, 50), 20), [[50.0, 50.0]]])  # corners on the box edge, a centre
    config = AugmentConfig(input_size=32, strength=1.0, rotation=0.0, scale=(1.0, 3.0), translate=0.0,
                           flip=False, color=0.0, framing="face", margin=1.0)
    transform = build_transform(config, train=True)
    lost = 0
    for seed in range(6):
        torch.manual_seed(seed)
        m, _ = transform.matrix(points)
        expected = points @ m[:, :2].T + m[:, 2]
        outside = ~((expected >= 0) & (expected < 32)).all(axis=1)
        torch.manual_seed(seed)
        _, pts = transform(image, points)
        assert torch.isnan(pts).any(dim=1).tolist() == outside.tolist()
        torch.testing.assert_close(pts[~torch.as_tensor(outside)],
                                   torch.as_tensor(expected[~outside], dtype=torch.float32))
        lost += int(outside.sum())
    assert lost > 0 and torch.isfinite(pts[4]).all()  # zoomed-in corners leave; the centre stays


def test_face_framing_settings_are_checked():
    with pytest.raises(ValueError, match="framing"):
        AugmentConfig(framing="crop")
    with pytest.raises(ValueError, match="occlusion"):
        AugmentConfig(occlusion=1.5)
