import numpy as np
import pytest

from lmkviz.data import synthetic
from lmkviz.data.folder import Sample
from lmkviz.data.schemes import IBUG68
from lmkviz.data.synthetic import (
    BACKGROUNDS,
    HAIR_STYLES,
    MEAN_SHAPE,
    SPLIT_SIZES,
    SPLITS,
    SyntheticSplit,
    render_face,
    synthetic_faces,
)

# No blur, noise or lighting ramp: pixels are the drawn colours (antialiased at edges).
CLEAN = dict(blur=0, noise=0, lighting=0)


def luminance(rgb):
    return np.asarray(rgb, float) @ [0.299, 0.587, 0.114]


def pixel(image, xy):
    """Colour of the pixel containing continuous point xy (pixel j spans [j, j + 1))."""
    x, y = np.floor(xy).astype(int)
    return image[y, x].astype(float)


def look_of(seed, **options):
    return synthetic._sample_face(np.random.default_rng(seed), **options).look


def test_same_seed_same_face_different_seed_differs():
    a_img, a_pts = render_face(3, 64)
    b_img, b_pts = render_face(3, 64)
    c_img, c_pts = render_face(4, 64)
    assert np.array_equal(a_img, b_img) and np.array_equal(a_pts, b_pts)
    assert not np.array_equal(a_img, c_img) and not np.allclose(a_pts, c_pts)
    g_img, g_pts = render_face(np.random.default_rng(3), 64)
    assert np.array_equal(g_img, a_img) and np.array_equal(g_pts, a_pts)


def test_shapes_and_dtypes():
    image, points = render_face(0, 96)
    assert image.shape == (96, 96, 3) and image.dtype == np.uint8
    assert points.shape == (68, 2) and points.dtype == np.float32
    images, points = synthetic_faces(3, size=48, seed=1)
    assert images.shape == (3, 48, 48, 3) and images.dtype == np.uint8
    assert points.shape == (3, 68, 2) and points.dtype == np.float32
    assert MEAN_SHAPE.shape == (68, 2) and MEAN_SHAPE.dtype == np.float32


def test_mean_shape_is_mirror_symmetric_under_the_ibug_flip():
    mirrored = MEAN_SHAPE.copy()
    mirrored[:, 0] = 1 - mirrored[:, 0]  # unit box: x -> W - x with W = 1
    np.testing.assert_allclose(mirrored[list(IBUG68.flip_perm)], MEAN_SHAPE, atol=1e-6)


@pytest.mark.parametrize("hair", HAIR_STYLES)
@pytest.mark.parametrize("background", BACKGROUNDS)
def test_every_hair_style_and_background_renders(hair, background):
    image, points = render_face(1, 48, hair=hair, background=background)
    assert image.shape == (48, 48, 3) and 10 < image.std()
    assert ((points >= 0) & (points < 48)).all()


def test_batch_face_i_depends_only_on_seed_and_i():
    small_images, small_points = synthetic_faces(2, size=48, seed=5)
    images, points = synthetic_faces(4, size=48, seed=5)
    assert np.array_equal(small_images, images[:2]) and np.array_equal(small_points, points[:2])
    other_images, _ = synthetic_faces(2, size=48, seed=6)
    assert not np.array_equal(other_images, small_images)


def test_200_faces_all_points_inside_the_image():
    # Also the "generation is quick" check: 200 faces at 64 px take well under a few seconds.
    images, points = synthetic_faces(200, size=64, seed=11)
    assert np.isfinite(points).all()
    assert (points >= 0).all() and (points < 64).all()
    assert len({im.tobytes() for im in images}) == 200


def test_options_change_only_what_they_name():
    base_img, base_pts = render_face(8, 64, roll=0, **CLEAN)
    _, long_pts = render_face(8, 64, roll=0, hair="long", background="flat", **CLEAN)
    assert np.array_equal(base_pts, long_pts)  # looks never move the points
    with pytest.raises(ValueError, match="hair style"):
        render_face(0, 64, hair="mohawk")
    with pytest.raises(ValueError, match="background"):
        render_face(0, 64, background="space")


@pytest.mark.parametrize("seed", range(30))
def test_landmarks_follow_ibug_order_on_upright_faces(seed):
    _, p = render_face(seed, 128, roll=0, yaw=0)
    x, y = p[:, 0], p[:, 1]
    assert x[36] < x[39] < x[42] < x[45]  # image-left eye is the subject's right eye, 36 its outer corner
    assert y[37] < y[41] and y[38] < y[40] and y[43] < y[47] and y[44] < y[46]  # upper lids above lower lids
    assert np.argmax(y[:17]) == 8  # chin is the lowest jaw point
    assert (np.diff(x[[0, 2, 4, 6, 8, 10, 12, 14, 16]]) > 0).all()  # jaw runs image left to right
    assert x[0] < x[17] < x[21] < x[22] < x[26] < x[16]
    assert (np.diff(y[27:31]) > 0).all()  # nose bridge top to tip
    assert (np.diff(x[31:36]) > 0).all()  # nostrils left to right
    eyes_y = y[36:48].mean()
    assert eyes_y < y[30] < y[51]  # nose tip between the eyes and the mouth
    assert y[51] < y[62] <= y[66] < y[57]  # upper lip above lower lip
    assert x[48] < x[51] < x[54] and x[60] < x[62] < x[64]
    assert y[19] < eyes_y and y[24] < eyes_y  # brows above the eyes


@pytest.mark.parametrize("roll", [-30.0, -12.5, 20.0, 30.0])
def test_roll_rotates_the_points_about_their_centre(roll):
    _, upright = render_face(21, 256, roll=0)
    _, rolled = render_face(21, 256, roll=roll)
    a = np.deg2rad(roll)
    rotation = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])  # clockwise on screen, y down
    expected = (upright - upright.mean(0)) @ rotation.T
    np.testing.assert_allclose(rolled - rolled.mean(0), expected, atol=2e-3)


@pytest.mark.parametrize("roll", [0.0, 17.0, -25.0])
def test_without_variation_points_are_the_rotated_canonical_shape(roll):
    _, p = render_face(
        2, 256, roll=roll, yaw=0, mouth_open=0, smile=0, brow_raise=0, variation=0, jitter=0, face_scale=0.5
    )
    canonical = MEAN_SHAPE.astype(float)
    a = np.deg2rad(roll)
    rotation = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    expected = 0.5 * 256 * (canonical - canonical.mean(0)) @ rotation.T  # face width = 0.5 * image width
    np.testing.assert_allclose(p - p.mean(0), expected, atol=2e-3)


@pytest.mark.parametrize("seed", range(12))
def test_pupils_are_dark_at_the_centre_of_the_eye_points(seed):
    image, p = render_face(seed, 256, **CLEAN)
    for eye in (slice(36, 42), slice(42, 48)):
        x, y = np.floor(p[eye].mean(0)).astype(int)
        window = image[y - 1 : y + 2, x - 1 : x + 2]
        assert luminance(window).min() < 45, f"no pupil at the centre of eye points {eye}"


@pytest.mark.parametrize("seed", range(12))
def test_skin_and_lip_colours_sit_where_the_points_say(seed):
    image, p = render_face(seed, 256, hair="none", **CLEAN)
    look = look_of(seed, hair="none", **CLEAN)
    cheek = pixel(image, (p[30] + p[4]) / 2)
    assert np.abs(cheek - look.skin).max() <= 24  # skin (a faint blush at most)
    upper_lip = pixel(image, (p[51] + p[62]) / 2)
    assert np.abs(upper_lip - synthetic._shade(look.lips, 0.9)).max() <= 12
    for outer, inner in ((56, 65), (58, 67)):
        lower_lip = pixel(image, (p[outer] + p[inner]) / 2)
        assert np.abs(lower_lip - look.lips).max() <= 12


@pytest.mark.parametrize("seed", range(12))
def test_background_outside_the_jaw_far_from_the_face(seed):
    size = 256
    image, p = render_face(seed, size, hair="short", background="flat", face_scale=0.45, shift=(0, 0), **CLEAN)
    look = look_of(seed, hair="short", background="flat", **CLEAN)
    for jaw in (4, 12):
        outside = p[jaw] + 0.5 * (p[jaw] - p[30])
        if ((outside >= 0) & (outside < size)).all():
            assert np.array_equal(pixel(image, outside), look.background_colours[0])


@pytest.mark.parametrize("seed", range(8))
def test_drawn_jaw_edge_passes_through_the_jaw_points_to_a_fraction_of_a_pixel(seed):
    """Along the outward normal at jaw points 3, 4, 12 and 13 the box-filtered
    skin -> background edge is half way at the landmark itself."""
    image, p = render_face(seed, 256, hair="short", background="flat", **CLEAN)
    offsets = np.linspace(-3, 3, 241)
    for i in (3, 4, 12, 13):
        tangent = p[i + 1] - p[i - 1]
        normal = np.array([tangent[1], -tangent[0]]) / np.linalg.norm(tangent)
        if normal @ (p[i] - p[30]) < 0:
            normal = -normal  # pointing away from the face
        samples = np.array([_bilinear(image, p[i] + t * normal) for t in offsets])
        skin, background = samples[0], samples[-1]
        contrast = background - skin
        if np.abs(contrast).max() < 40:
            continue  # skin and background too alike to measure
        fraction = (samples - skin) @ contrast / (contrast @ contrast)  # 0 on skin, 1 on background
        crossing = offsets[np.argmin(np.abs(fraction - 0.5))]
        assert abs(crossing) <= 0.35, f"jaw point {i}: drawn edge {crossing:+.2f} px from the landmark"


def _bilinear(image, xy):
    """Bilinear sample at continuous xy (pixel centres at j + 0.5)."""
    x, y = xy[0] - 0.5, xy[1] - 0.5
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    fx, fy = x - x0, y - y0
    patch = image[y0 : y0 + 2, x0 : x0 + 2].astype(float)
    top = patch[0, 0] * (1 - fx) + patch[0, 1] * fx
    bottom = patch[1, 0] * (1 - fx) + patch[1, 1] * fx
    return top * (1 - fy) + bottom * fy


def test_split_defaults_and_interface():
    split = SyntheticSplit("val")
    assert len(split) == SPLIT_SIZES["val"] == 200
    assert len(SyntheticSplit()) == 1000 and SPLITS == ("train", "val", "test")
    assert split.num_points == 68 and split.scheme_name == "ibug68" and split.skipped == []
    assert split.names[42] == "synthetic_val_00042" and len(split.names) == 200
    sample = split[42]
    assert isinstance(sample, Sample) and sample.name == "synthetic_val_00042"
    assert sample.image.shape == (256, 256, 3) and sample.image.dtype == np.uint8
    assert sample.points.shape == (68, 2) and sample.points.dtype == np.float32
    with pytest.raises(IndexError):
        split[200]
    with pytest.raises(ValueError, match="split"):
        SyntheticSplit("holdout")


def test_split_samples_depend_only_on_seed_split_and_index():
    a = SyntheticSplit("train", n=10, size=48, seed=3)
    b = SyntheticSplit("train", n=10, size=48, seed=3)
    first = [a[i] for i in (7, 2, 7)]
    second = b[2]
    assert np.array_equal(first[1].image, second.image) and np.array_equal(first[1].points, second.points)
    assert np.array_equal(first[0].image, first[2].image)
    assert np.array_equal(a[-1].image, a[9].image)
    assert not np.array_equal(SyntheticSplit("test", n=10, size=48, seed=3)[2].image, second.image)
    assert not np.array_equal(SyntheticSplit("train", n=10, size=48, seed=4)[2].image, second.image)
