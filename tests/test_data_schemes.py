import numpy as np
import pytest

from lmkviz.data import FolderSplit, discover_datasets
from lmkviz.data.schemes import (
    BLOG_FIVE,
    IBUG68,
    LAPA106,
    MAIN_GROUPS,
    SCHEMES,
    LandmarkScheme,
    parse_subset,
    scheme_for,
)

NAMED = list(SCHEMES.values())


def _swap_sides(name: str) -> str:
    words = name.split()
    return " ".join({"right": "left", "left": "right"}.get(w, w) for w in words)


@pytest.mark.parametrize("scheme", NAMED, ids=lambda s: s.name)
def test_flip_perm_is_an_involutive_permutation(scheme):
    perm = np.array(scheme.flip_perm)
    assert sorted(perm.tolist()) == list(range(scheme.num_points))
    assert (perm[perm] == np.arange(scheme.num_points)).all()


@pytest.mark.parametrize("scheme", NAMED, ids=lambda s: s.name)
def test_flip_twice_is_identity_on_points(scheme):
    rng = np.random.default_rng(0)
    width = 97.0
    points = rng.uniform(0, width, (scheme.num_points, 2))

    def flip(p):
        m = p.copy()
        m[:, 0] = width - p[:, 0]
        return m[list(scheme.flip_perm)]

    once = flip(points)
    assert not np.allclose(once, points)
    np.testing.assert_allclose(flip(once), points, rtol=0, atol=1e-12)


@pytest.mark.parametrize("scheme", NAMED, ids=lambda s: s.name)
def test_main_groups_partition_all_points(scheme):
    seen = []
    for group in MAIN_GROUPS:
        seen.extend(scheme.groups[group])
    assert sorted(seen) == list(range(scheme.num_points))
    for group, idx in scheme.groups.items():
        assert list(idx) == sorted(set(idx)), group


@pytest.mark.parametrize("scheme", NAMED, ids=lambda s: s.name)
def test_flip_partners_have_mirrored_names(scheme):
    assert len(set(scheme.names)) == scheme.num_points
    for i, j in enumerate(scheme.flip_perm):
        if i == j:
            words = scheme.names[i].split()
            assert "right" not in words and "left" not in words, scheme.names[i]
        else:
            assert _swap_sides(scheme.names[i]) == scheme.names[j], (i, j)


@pytest.mark.parametrize("scheme", NAMED, ids=lambda s: s.name)
def test_side_groups_swap_under_flip(scheme):
    perm = scheme.flip_perm
    for group in ("right_eye", "right_brow"):
        partner = group.replace("right", "left")
        assert sorted(perm[i] for i in scheme.groups[group]) == list(scheme.groups[partner])
    right, left = scheme.eye_corners
    assert perm[right] == left
    assert scheme.names[right] == "right eye outer corner"
    assert scheme.names[left] == "left eye outer corner"


def test_ibug68_pairs_from_the_markup():
    perm = IBUG68.flip_perm
    for a, b in [(0, 16), (8, 8), (17, 26), (21, 22), (27, 27), (30, 30), (31, 35), (33, 33),
                 (36, 45), (39, 42), (37, 44), (41, 46), (48, 54), (51, 51), (57, 57),
                 (60, 64), (62, 62), (65, 67), (66, 66)]:
        assert perm[a] == b and perm[b] == a
    assert IBUG68.eye_corners == (36, 45)
    assert IBUG68.groups["jaw"] == tuple(range(17))
    assert IBUG68.groups["right_eye"] == tuple(range(36, 42))
    assert IBUG68.groups["mouth"] == tuple(range(48, 68))


# Swap pairs of mmpose's LaPa dataset config (configs/_base_/datasets/lapa.py).
MMPOSE_LAPA_SWAPS = (
    [(i, 32 - i) for i in range(16)]
    + [(33, 46), (34, 45), (35, 44), (36, 43), (37, 42), (38, 50), (39, 49), (40, 48), (41, 47)]
    + [(55, 65), (56, 64), (57, 63), (58, 62), (59, 61)]
    + [(66, 79), (67, 78), (68, 77), (69, 76), (70, 75), (71, 82), (72, 81), (73, 80), (74, 83)]
    + [(84, 90), (85, 89), (86, 88), (91, 95), (92, 94), (96, 100), (97, 99), (101, 103), (104, 105)]
)


def test_lapa106_matches_reference_swap_pairs():
    expected = list(range(106))
    for a, b in MMPOSE_LAPA_SWAPS:
        expected[a], expected[b] = b, a
    assert list(LAPA106.flip_perm) == expected
    fixed = [i for i in range(106) if LAPA106.flip_perm[i] == i]
    assert fixed == [16, 51, 52, 53, 54, 60, 87, 93, 98, 102]  # all on the facial midline
    assert LAPA106.eye_corners == (66, 79)
    assert [LAPA106.names[i] for i in fixed][:2] == ["chin", "nose bridge top"]


def test_blog_five_points():
    assert BLOG_FIVE == (30, 40, 50, 60, 70)
    assert parse_subset(LAPA106, "blog5") == BLOG_FIVE
    assert LAPA106.names[60] == "nose base centre"
    assert LAPA106.names[70] == "right eye inner corner"


def test_scheme_for_known_and_generic():
    assert scheme_for(68) is IBUG68
    assert scheme_for(106) is LAPA106
    generic = scheme_for(5)
    assert generic.num_points == 5
    assert generic.names == ("point 0", "point 1", "point 2", "point 3", "point 4")
    assert generic.groups == {"all": (0, 1, 2, 3, 4)}
    assert generic.flip_perm is None and not generic.can_flip
    with pytest.raises(ValueError, match="at least one point"):
        scheme_for(0)


def test_scheme_rejects_bad_definitions():
    with pytest.raises(ValueError, match="not a permutation"):
        LandmarkScheme("x", 2, ("a", "b"), {"all": (0, 1)}, flip_perm=(0, 0))
    with pytest.raises(ValueError, match="outside"):
        LandmarkScheme("x", 2, ("a", "b"), {"all": (0, 2)})
    with pytest.raises(TypeError):
        IBUG68.groups["jaw"] = (0,)  # read-only


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("all", tuple(range(68))),
        ("  ALL ", tuple(range(68))),
        ("eyes", tuple(range(36, 48))),
        ("right_eye", tuple(range(36, 42))),
        ("36,45, 48-54", (36, 45, 48, 49, 50, 51, 52, 53, 54)),
        ("45, 36, 36", (36, 45)),
        ("0-2,1", (0, 1, 2)),
        ("67", (67,)),
    ],
)
def test_parse_subset_valid(spec, expected):
    assert parse_subset(IBUG68, spec) == expected


@pytest.mark.parametrize(
    "spec, message",
    [
        ("", "empty"),
        ("blog5", "only for the 106-point"),
        ("36;45", "cannot read"),
        ("eyes2", "cannot read"),
        ("1.5", "cannot read"),
        ("-3", "cannot read"),
        ("54-48", "backwards"),
        ("68", "out of range"),
        ("60-70", "out of range"),
        (",", "selects no points"),
    ],
)
def test_parse_subset_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_subset(IBUG68, spec)


def test_parse_subset_on_generic_scheme():
    generic = scheme_for(10)
    assert parse_subset(generic, "all") == tuple(range(10))
    assert parse_subset(generic, "2-4") == (2, 3, 4)
    with pytest.raises(ValueError, match="0..9"):
        parse_subset(generic, "10")


def _check_mirror_symmetry(split, scheme):
    """Mirror every shape (x -> W - x), reorder it with flip_perm and compare mean shapes.

    Shapes are centred and divided by their inter-ocular distance (IOD). Each point's
    flip partner must be (within 0.02 IOD) the nearest mirrored mean point, the mean
    shapes must agree within 0.1 IOD, and without the permutation they must not.
    Returns the mean shape (K, 2) in IOD units.
    """
    points = split.all_points().astype(np.float64)  # (N, K, 2)
    widths = split.image_sizes()[:, 1].astype(np.float64)
    right, left = scheme.eye_corners
    iod = np.linalg.norm(points[:, right] - points[:, left], axis=1)
    keep = iod > 1e-3
    points, widths, iod = points[keep], widths[keep], iod[keep]
    assert len(points) > 20

    def mean_shape(p):
        centred = p - p.mean(axis=1, keepdims=True)
        return (centred / iod[:, None, None]).mean(axis=0)

    mirrored = points.copy()
    mirrored[..., 0] = widths[:, None] - points[..., 0]
    reference = mean_shape(points)
    mirrored_mean = mean_shape(mirrored)  # unpermuted: point i is the mirror of point i
    perm = list(scheme.flip_perm)
    partner_error = np.linalg.norm(mirrored_mean[perm] - reference, axis=1)
    distances = np.linalg.norm(reference[:, None] - mirrored_mean[None], axis=2)  # (K, K)
    nearest = distances.min(axis=1)
    worst = int(np.argmax(partner_error - nearest))
    assert (partner_error <= nearest + 0.02).all(), (worst, int(distances[worst].argmin()), perm[worst])
    assert partner_error.max() < 0.1, partner_error.max()
    assert np.linalg.norm(mirrored_mean - reference, axis=1).max() > 0.5  # the permutation matters
    return reference


@pytest.mark.shared_data
def test_ibug68_flip_matches_face68_mean_shape(shared_datasets):
    split = FolderSplit(shared_datasets / "face68", "train")
    reference = _check_mirror_symmetry(split, IBUG68)
    assert reference[36, 0] < reference[45, 0]  # subject's right eye is on the image left


@pytest.mark.shared_data
def test_lapa106_flip_matches_lapa_mean_shape():
    lapa = [d for d in discover_datasets() if d.num_points == 106]
    if not lapa:
        pytest.skip("no 106-point LaPa dataset found in data/ or $LMKVIZ_DATA")
    info = lapa[0]
    split = FolderSplit(info.path, next(iter(info.splits)))
    reference = _check_mirror_symmetry(split, LAPA106)
    assert reference[66, 0] < reference[79, 0]  # subject's right eye is on the image left
    assert reference[0, 0] < reference[32, 0]  # the contour starts on the image left


def test_subset_presets_and_defaults_per_scheme():
    from lmkviz.data.schemes import FIVE_POINTS, default_subset, subset_presets

    ibug = subset_presets(IBUG68)
    assert list(ibug) == ["all", "30,36,45,48,54", "jaw", "brows", "nose", "eyes", "mouth"]
    assert default_subset(IBUG68) == "30,36,45,48,54"
    assert parse_subset(IBUG68, default_subset(IBUG68)) == FIVE_POINTS["ibug68"]
    # the five: nose tip, both outer eye corners (the NME's), both mouth corners
    assert set(IBUG68.eye_corners) <= set(FIVE_POINTS["ibug68"])
    assert [IBUG68.names[i] for i in FIVE_POINTS["ibug68"]] == [
        "nose tip", "right eye outer corner", "left eye outer corner", "right mouth corner", "left mouth corner"]
    assert default_subset(LAPA106) == "blog5" and parse_subset(LAPA106, "blog5") == (30, 40, 50, 60, 70)
    assert ibug["eyes"] == "eyes (12)"
    generic = scheme_for(5)
    assert subset_presets(generic) == {"all": "all 5 points"} and default_subset(generic) == "all"
    for scheme in (IBUG68, LAPA106, generic):
        for spec in subset_presets(scheme):
            assert parse_subset(scheme, spec)  # every preset is a valid spec
