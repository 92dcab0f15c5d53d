"""Landmark schemes: point names, groups, left/right flip permutations.

A scheme describes what the ``K`` points of a landmark file mean. "Right" and
"left" are always the *subject's* (the subject's right eye appears on the left
of a frontal photo), as in the iBUG 68-point markup.

Flip permutation
----------------
Mirroring an image horizontally maps ``x -> W - x`` (continuous convention, see
:mod:`lmkviz`) but also turns every right-side feature into a left-side one.
With ``points`` of shape (K, 2)::

    mirrored = points.copy(); mirrored[:, 0] = W - points[:, 0]
    new_points = mirrored[flip_perm]      # new_points[i] = mirrored[flip_perm[i]]

so that ``new_points[36]`` (the right eye outer corner of the flipped image) is
the mirrored left eye outer corner ``mirrored[45]``. For a left/right symmetric
markup ``flip_perm`` is an involution: ``flip_perm[flip_perm[i]] == i``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping, Optional, Sequence

__all__ = [
    "LandmarkScheme",
    "IBUG68",
    "LAPA106",
    "SCHEMES",
    "MAIN_GROUPS",
    "BLOG_FIVE",
    "FIVE_POINTS",
    "scheme_for",
    "subset_presets",
    "default_subset",
    "parse_subset",
    "subset_flip_perm",
    "flip_perm_for",
]

MAIN_GROUPS = ("jaw", "brows", "nose", "eyes", "mouth")
"""The coarse groups every named scheme defines; together they partition its points."""

BLOG_FIVE = (30, 40, 50, 60, 70)
"""The five LaPa (106-point) landmarks the original blog post trains on."""

FIVE_POINTS = MappingProxyType({"ibug68": (30, 36, 45, 48, 54)})
"""A five-point subset like the blog's for schemes other than LaPa, by scheme name: the
nose tip, the outer eye corners and the mouth corners."""


@dataclass(frozen=True)
class LandmarkScheme:
    """What the K points of a landmark file mean.

    name: short id, e.g. ``"ibug68"``.
    num_points: K.
    names: K human-readable names ("right eye outer corner"; right/left are the subject's).
    groups: group name -> sorted tuple of point indices. Named schemes define at least
        :data:`MAIN_GROUPS` ("jaw", "brows", "nose", "eyes", "mouth"), which partition
        ``range(K)``, plus finer, overlapping groups ("right_eye", "inner_lips", ...).
    flip_perm: K indices or None. After mirroring an image (``x -> W - x``) the
        points of the mirrored image are ``mirrored(old_points)[flip_perm]``, i.e.
        ``new[i] = mirrored(old)[flip_perm[i]]``. None means flipping is not allowed
        (the left/right pairing is unknown).
    eye_corners: (right outer eye corner, left outer eye corner) used for inter-ocular
        normalisation, or None when the scheme has no eyes.
    """

    name: str
    num_points: int
    names: tuple[str, ...]
    groups: Mapping[str, tuple[int, ...]] = field(hash=False)
    flip_perm: Optional[tuple[int, ...]] = None
    eye_corners: Optional[tuple[int, int]] = None

    def __post_init__(self) -> None:
        k = self.num_points
        if len(self.names) != k:
            raise ValueError(f"scheme {self.name!r}: {len(self.names)} names for {k} points")
        for group, idx in self.groups.items():
            bad = [i for i in idx if not 0 <= i < k]
            if bad:
                raise ValueError(f"scheme {self.name!r}: group {group!r} has indices {bad} outside 0..{k - 1}")
        if self.flip_perm is not None and sorted(self.flip_perm) != list(range(k)):
            raise ValueError(f"scheme {self.name!r}: flip_perm is not a permutation of 0..{k - 1}")
        if self.eye_corners is not None and not all(0 <= i < k for i in self.eye_corners):
            raise ValueError(f"scheme {self.name!r}: eye_corners {self.eye_corners} outside 0..{k - 1}")
        # Read-only view so that a frozen scheme cannot be changed through its groups.
        object.__setattr__(self, "groups", MappingProxyType({g: tuple(sorted(i)) for g, i in self.groups.items()}))

    @property
    def can_flip(self) -> bool:
        """True when horizontal flips are allowed (``flip_perm`` is known)."""
        return self.flip_perm is not None


def _pairs_to_perm(num_points: int, pairs: list[tuple[int, int]]) -> tuple[int, ...]:
    """Symmetric swap pairs -> flip permutation (unpaired points map to themselves)."""
    perm = list(range(num_points))
    for a, b in pairs:
        if perm[a] != a or perm[b] != b:
            raise ValueError(f"point {a} or {b} appears in two swap pairs")
        perm[a], perm[b] = b, a
    return tuple(perm)


def _side_chain(prefix: str, n: int) -> list[str]:
    """Names for a contour traced from the subject's right to the left.

    ``n`` points per side plus one centre point: "right jaw 1" (top, near the ear)
    ... "right jaw n", "chin", "left jaw n" ... "left jaw 1".
    """
    right = [f"right {prefix} {i}" for i in range(1, n + 1)]
    left = [f"left {prefix} {i}" for i in range(n, 0, -1)]
    return right + ["chin"] + left


# Mouth: 12 outer-lip points then 8 inner-lip points, clockwise in the image starting
# at the subject's right corner (iBUG 48-67, WFLW 76-95, LaPa 84-103).
_MOUTH_NAMES = [
    "right mouth corner",
    "upper lip right outer",
    "upper lip right",
    "upper lip top centre",
    "upper lip left",
    "upper lip left outer",
    "left mouth corner",
    "lower lip left outer",
    "lower lip left",
    "lower lip bottom centre",
    "lower lip right",
    "lower lip right outer",
    "right inner mouth corner",
    "inner upper lip right",
    "inner upper lip centre",
    "inner upper lip left",
    "left inner mouth corner",
    "inner lower lip left",
    "inner lower lip centre",
    "inner lower lip right",
]


def _mouth_pairs(start: int) -> list[tuple[int, int]]:
    s = start
    outer = [(s + 0, s + 6), (s + 1, s + 5), (s + 2, s + 4), (s + 7, s + 11), (s + 8, s + 10)]
    inner = [(s + 12, s + 16), (s + 13, s + 15), (s + 17, s + 19)]
    return outer + inner


def _mouth_groups(start: int) -> dict[str, tuple[int, ...]]:
    return {
        "mouth": tuple(range(start, start + 20)),
        "outer_lips": tuple(range(start, start + 12)),
        "inner_lips": tuple(range(start + 12, start + 20)),
    }


def _build_ibug68() -> LandmarkScheme:
    names: list[str] = []
    names += _side_chain("jaw", 8)  # 0-16, 8 = chin
    names += [  # 17-21 right brow, outer -> inner
        "right brow outer end", "right brow 2", "right brow middle", "right brow 4", "right brow inner end",
    ]
    names += [  # 22-26 left brow, inner -> outer
        "left brow inner end", "left brow 4", "left brow middle", "left brow 2", "left brow outer end",
    ]
    names += ["nose bridge top", "nose bridge 2", "nose bridge 3", "nose tip"]  # 27-30
    names += [  # 31-35 nose base, image left -> right
        "nose base right outer", "nose base right", "nose base centre", "nose base left", "nose base left outer",
    ]
    names += [  # 36-41 right eye, clockwise from the outer corner
        "right eye outer corner", "right eye upper lid outer", "right eye upper lid inner",
        "right eye inner corner", "right eye lower lid inner", "right eye lower lid outer",
    ]
    names += [  # 42-47 left eye, clockwise from the inner corner
        "left eye inner corner", "left eye upper lid inner", "left eye upper lid outer",
        "left eye outer corner", "left eye lower lid outer", "left eye lower lid inner",
    ]
    names += _MOUTH_NAMES  # 48-67

    pairs = [(i, 16 - i) for i in range(8)]
    pairs += [(17 + i, 26 - i) for i in range(5)]
    pairs += [(31, 35), (32, 34)]
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
    pairs += _mouth_pairs(48)

    groups = {
        "jaw": tuple(range(0, 17)),
        "brows": tuple(range(17, 27)),
        "nose": tuple(range(27, 36)),
        "eyes": tuple(range(36, 48)),
        **_mouth_groups(48),
        "right_brow": tuple(range(17, 22)),
        "left_brow": tuple(range(22, 27)),
        "nose_bridge": tuple(range(27, 31)),
        "nose_base": tuple(range(31, 36)),
        "right_eye": tuple(range(36, 42)),
        "left_eye": tuple(range(42, 48)),
    }
    return LandmarkScheme("ibug68", 68, tuple(names), groups, _pairs_to_perm(68, pairs), (36, 45))


def _build_lapa106() -> LandmarkScheme:
    # JD-106 layout as used by LaPa. Index semantics follow the WFLW-98 layout it
    # extends (106 -> 98 keeps 0-54, 58-62, 66-73, 75-82, 84-103, 104, 105); the
    # swap pairs are those of mmpose's LaPa dataset config.
    names: list[str] = []
    names += _side_chain("jaw", 16)  # 0-32, 16 = chin
    # Brow points are numbered from the outer end (1) inwards along each edge.
    names += [  # 33-41 right brow: outer end, upper edge to the inner end, lower edge back out
        "right brow outer end", "right brow upper 2", "right brow upper 3", "right brow upper 4",
        "right brow inner end", "right brow lower 4", "right brow lower 3", "right brow lower 2",
        "right brow lower 1",
    ]
    names += [  # 42-50 left brow: inner end, upper edge out, lower edge back in
        "left brow inner end", "left brow upper 4", "left brow upper 3", "left brow upper 2",
        "left brow outer end", "left brow lower 1", "left brow lower 2", "left brow lower 3",
        "left brow lower 4",
    ]
    names += ["nose bridge top", "nose bridge 2", "nose bridge 3", "nose tip"]  # 51-54
    names += ["right nose wing 1", "right nose wing 2", "right nose wing 3"]  # 55-57
    names += [  # 58-62 nose base, image left -> right
        "nose base right outer", "nose base right", "nose base centre", "nose base left", "nose base left outer",
    ]
    names += ["left nose wing 3", "left nose wing 2", "left nose wing 1"]  # 63-65
    names += [  # 66-74 right eye: outer corner, upper lid, inner corner, lower lid, centre
        "right eye outer corner", "right eye upper lid outer", "right eye upper lid middle",
        "right eye upper lid inner", "right eye inner corner", "right eye lower lid inner",
        "right eye lower lid middle", "right eye lower lid outer", "right eye centre",
    ]
    names += [  # 75-83 left eye: inner corner, upper lid, outer corner, lower lid, centre
        "left eye inner corner", "left eye upper lid inner", "left eye upper lid middle",
        "left eye upper lid outer", "left eye outer corner", "left eye lower lid outer",
        "left eye lower lid middle", "left eye lower lid inner", "left eye centre",
    ]
    names += _MOUTH_NAMES  # 84-103
    names += ["right pupil", "left pupil"]  # 104-105

    pairs = [(i, 32 - i) for i in range(16)]
    pairs += [(33, 46), (34, 45), (35, 44), (36, 43), (37, 42), (38, 50), (39, 49), (40, 48), (41, 47)]
    pairs += [(55, 65), (56, 64), (57, 63), (58, 62), (59, 61)]
    pairs += [(66, 79), (67, 78), (68, 77), (69, 76), (70, 75), (71, 82), (72, 81), (73, 80), (74, 83)]
    pairs += _mouth_pairs(84)
    pairs += [(104, 105)]

    groups = {
        "jaw": tuple(range(0, 33)),
        "brows": tuple(range(33, 51)),
        "nose": tuple(range(51, 66)),
        "eyes": tuple(range(66, 84)) + (104, 105),
        **_mouth_groups(84),
        "right_brow": tuple(range(33, 42)),
        "left_brow": tuple(range(42, 51)),
        "nose_bridge": tuple(range(51, 55)),
        "nose_base": tuple(range(58, 63)),
        "right_eye": tuple(range(66, 75)) + (104,),
        "left_eye": tuple(range(75, 84)) + (105,),
        "pupils": (104, 105),
    }
    return LandmarkScheme("lapa106", 106, tuple(names), groups, _pairs_to_perm(106, pairs), (66, 79))


IBUG68 = _build_ibug68()
"""iBUG 68-point markup (300-W); eye corners 36 and 45."""

LAPA106 = _build_lapa106()
"""LaPa 106-point markup (JD-106 layout); eye corners 66 and 79."""

SCHEMES: Mapping[str, LandmarkScheme] = MappingProxyType({"ibug68": IBUG68, "lapa106": LAPA106})


def scheme_for(num_points: int) -> LandmarkScheme:
    """The named scheme with ``num_points`` points, else a generic one.

    The generic scheme names points "point 0" ... "point K-1", has a single group
    "all", no eye corners and ``flip_perm=None`` (flipping is not allowed).
    """
    num_points = int(num_points)
    if num_points <= 0:
        raise ValueError(f"a landmark scheme needs at least one point, got {num_points}")
    for scheme in SCHEMES.values():
        if scheme.num_points == num_points:
            return scheme
    return LandmarkScheme(
        name=f"generic{num_points}",
        num_points=num_points,
        names=tuple(f"point {i}" for i in range(num_points)),
        groups={"all": tuple(range(num_points))},
    )


_RANGE = re.compile(r"^(\d+)\s*-\s*(\d+)$")


def parse_subset(scheme: LandmarkScheme, spec: str) -> tuple[int, ...]:
    """Landmark subset spec -> sorted tuple of unique point indices.

    spec: ``"all"``; ``"blog5"`` (only for lapa106: :data:`BLOG_FIVE`); a group name
    of ``scheme`` ("eyes", "right_eye", ...); or a comma-separated list of indices
    and inclusive ranges such as ``"36,45, 48-54"``. Raises ValueError on anything else
    or on indices outside ``0..K-1``.
    """
    if not isinstance(spec, str):
        raise ValueError(f"landmark subset must be text such as 'all' or '36,45,48-54', got {spec!r}")
    text = spec.strip()
    k = scheme.num_points
    if not text:
        raise ValueError("empty landmark subset; use 'all', a group name or indices such as '36,45,48-54'")
    key = text.lower()
    if key == "all":
        return tuple(range(k))
    if key == "blog5":
        if scheme.name != "lapa106":
            raise ValueError(
                f"'blog5' is defined only for the 106-point LaPa scheme, not {scheme.name!r} "
                f"({k} points); choose a group ({', '.join(scheme.groups)}) or indices"
            )
        return BLOG_FIVE
    if key in scheme.groups:
        return tuple(scheme.groups[key])

    indices: set[int] = set()
    for token in text.split(","):
        token = token.strip()
        if not token:
            continue
        if token.isdigit():
            lo = hi = int(token)
        else:
            match = _RANGE.match(token)
            if match is None:
                groups = ", ".join(scheme.groups)
                raise ValueError(
                    f"cannot read {token!r} in landmark subset {spec!r}; use 'all', a group "
                    f"({groups}) or comma-separated indices and ranges such as '36,45,48-54'"
                )
            lo, hi = int(match.group(1)), int(match.group(2))
            if lo > hi:
                raise ValueError(f"range {token!r} in landmark subset {spec!r} runs backwards; write {hi}-{lo}")
        if hi >= k:
            raise ValueError(
                f"index {hi} in landmark subset {spec!r} is out of range: "
                f"scheme {scheme.name!r} has points 0..{k - 1}"
            )
        indices.update(range(lo, hi + 1))
    if not indices:
        raise ValueError(f"landmark subset {spec!r} selects no points; give at least one index")
    return tuple(sorted(indices))


def subset_presets(scheme: LandmarkScheme) -> dict[str, str]:
    """{spec: label} of a scheme's ready-made landmark subsets, for menus: all points, a
    five-point subset (the blog's :data:`BLOG_FIVE` for LaPa, :data:`FIVE_POINTS`
    otherwise), then the :data:`MAIN_GROUPS` the scheme has. Every spec is accepted by
    :func:`parse_subset`."""
    options = {"all": f"all {scheme.num_points} points"}
    if scheme.name == "lapa106":
        options["blog5"] = "the blog's five (" + ", ".join(map(str, BLOG_FIVE)) + ")"
    elif scheme.name in FIVE_POINTS:
        spec = ",".join(map(str, FIVE_POINTS[scheme.name]))
        options[spec] = f"five: nose tip, eye and mouth corners ({spec})"
    for group in MAIN_GROUPS:
        if group in scheme.groups:
            options[group] = f"{group} ({len(scheme.groups[group])})"
    return options


def default_subset(scheme: LandmarkScheme) -> str:
    """The five-point preset of :func:`subset_presets` when the scheme has one, else "all"."""
    return next((spec for spec in subset_presets(scheme) if spec != "all" and spec not in MAIN_GROUPS), "all")


def subset_flip_perm(flip_perm: Optional[Sequence[int]], indices: Sequence[int]) -> Optional[list[int]]:
    """The flip permutation of a landmark subset, in positions of ``indices``.

    flip_perm: a scheme's permutation over all K points (or None). indices: the
    subset (k points, e.g. a checkpoint's predicted landmarks). Returns k positions
    ``p`` with ``indices[p[i]] == flip_perm[indices[i]]``, so that channel ``i`` of a
    mirrored subset prediction comes from channel ``p[i]``; None when ``flip_perm``
    is None or a left/right partner of a chosen point is not in the subset.
    """
    if flip_perm is None:
        return None
    pos = {int(j): i for i, j in enumerate(indices)}
    try:
        return [pos[int(flip_perm[int(j)])] for j in indices]
    except KeyError:
        return None


def flip_perm_for(scheme: LandmarkScheme, indices: Sequence[int]) -> list[int]:
    """:func:`subset_flip_perm` of ``scheme`` for a flip test; ValueError saying why when impossible."""
    if scheme.flip_perm is None:
        raise ValueError(f"flip test needs a left/right flip permutation; scheme {scheme.name} has none")
    perm = subset_flip_perm(scheme.flip_perm, indices)
    if perm is None:
        raise ValueError("flip test needs every left/right partner of the predicted landmarks; "
                         "use a checkpoint trained on a symmetric landmark subset or turn the flip test off")
    return perm
