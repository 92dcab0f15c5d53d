"""Synthetic faces: the embedded default dataset, generated on the fly.

Every face starts from :data:`MEAN_SHAPE`, a frontal 68-point mean shape in
iBUG 300-W order (0-16 jaw from the subject's right ear, on the image left, down
the chin to the left ear; 17-21 / 22-26 right / left brow; 27-30 nose bridge
top to tip; 31-35 nose base, image left to right; 36-41 / 42-47 right / left
eye, 36 and 45 the outer corners; 48-59 outer lips, 48 the image-left corner,
51 top, 57 bottom; 60-67 inner lips). Random expression (mouth opening, smile,
brows), identity (face width, jaw, eyes, nose, mouth, per-point jitter) and pose
(roll, mild yaw, scale, shift) move the points; the face is then *drawn from
those points*: skin, hair, brows, eyes, nose and lips are polygons and curves
through the landmarks, sent through exactly the same geometry as the points.

Points follow the convention of :mod:`lmkviz`: continuous ``(x, y)`` pixel
coordinates, pixel ``j`` spans ``[j, j + 1)`` with its centre at ``j + 0.5``.
Drawing happens at ``supersample`` times the resolution (scaling points by the
same factor is exact in this convention) and is box-averaged down; drawn edges
sit within about ``1 / supersample`` pixel of the geometry.

Public API: :func:`render_face` (one face), :func:`synthetic_faces` (a batch)
and :class:`SyntheticSplit` (a dataset split of :class:`~lmkviz.data.folder.Sample`).
A 256 px face takes about 10 ms on one CPU core. ``docs/img/synthetic_faces.jpg``
shows ``synthetic_faces(24, seed=0, noise=0)``.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, replace
from functools import lru_cache
from statistics import NormalDist
from typing import Callable, Optional, Sequence, Union

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from lmkviz.data.folder import Sample

__all__ = [
    "BACKGROUNDS",
    "HAIR_STYLES",
    "MEAN_SHAPE",
    "NUM_POINTS",
    "SPLITS",
    "SPLIT_SIZES",
    "SyntheticSplit",
    "render_face",
    "synthetic_faces",
]

NUM_POINTS = 68
SPLITS = ("train", "val", "test")
SPLIT_SIZES = {"train": 1000, "val": 200, "test": 200}
HAIR_STYLES = ("none", "short", "long", "fringe")
BACKGROUNDS = ("flat", "gradient", "noise", "shapes")

RGB = tuple[int, int, int]
Seed = Union[int, np.random.Generator]

# A frontal, left/right symmetric iBUG 68-point mean shape with the mouth closed,
# in a unit box: x spans [0, 1] from jaw point 0 to jaw point 16, y points down
# (brow tops at 0, chin at 0.93). The average of the similarity-aligned,
# near-frontal face68 annotations (../shared/datasets), symmetrised, mouth
# closed and rounded.
MEAN_SHAPE = np.array(
    [
        [0.000, 0.167], [0.009, 0.301], [0.027, 0.432], [0.053, 0.559],  # 0-3 jaw
        [0.102, 0.677], [0.179, 0.774], [0.274, 0.853], [0.380, 0.913],  # 4-7
        [0.500, 0.930],  # 8 chin
        [0.620, 0.913], [0.726, 0.853], [0.821, 0.774], [0.898, 0.677],  # 9-12
        [0.947, 0.559], [0.973, 0.432], [0.991, 0.301], [1.000, 0.167],  # 13-16
        [0.077, 0.079], [0.141, 0.019], [0.232, 0.000], [0.326, 0.011], [0.416, 0.042],  # 17-21 right brow
        [0.584, 0.042], [0.674, 0.011], [0.768, 0.000], [0.859, 0.019], [0.923, 0.079],  # 22-26 left brow
        [0.500, 0.146], [0.500, 0.233], [0.500, 0.318], [0.500, 0.405],  # 27-30 nose bridge
        [0.395, 0.463], [0.446, 0.479], [0.500, 0.493], [0.554, 0.479], [0.605, 0.463],  # 31-35 nostrils
        [0.183, 0.162], [0.240, 0.131], [0.308, 0.132],  # 36-38 right eye: outer corner, upper lid
        [0.367, 0.176], [0.304, 0.185], [0.236, 0.184],  # 39-41 inner corner, lower lid
        [0.633, 0.176], [0.692, 0.132], [0.760, 0.131],  # 42-44 left eye: inner corner, upper lid
        [0.817, 0.162], [0.764, 0.184], [0.696, 0.185],  # 45-47 outer corner, lower lid
        [0.303, 0.619], [0.375, 0.589], [0.449, 0.574], [0.500, 0.586],  # 48-51 outer upper lip
        [0.551, 0.574], [0.625, 0.589], [0.697, 0.619],  # 52-54
        [0.628, 0.672], [0.555, 0.685], [0.500, 0.691], [0.445, 0.685], [0.372, 0.672],  # 55-59 outer lower lip
        [0.332, 0.622], [0.448, 0.614], [0.500, 0.620], [0.552, 0.614], [0.668, 0.622],  # 60-64 inner upper lip
        [0.552, 0.614], [0.500, 0.620], [0.448, 0.614],  # 65-67 inner lower lip (closed: on the upper)
    ],
    dtype=np.float32,
)
"""(68, 2) float32 canonical frontal shape, iBUG 300-W order, unit box, y down."""

# Index groups, iBUG 300-W order ("right" / "left" are the subject's).
JAW = np.arange(0, 17)
RIGHT_BROW = np.arange(17, 22)
LEFT_BROW = np.arange(22, 27)
BROWS = np.arange(17, 27)
NOSE_BRIDGE = np.arange(27, 31)
NOSE_BASE = np.arange(31, 36)
RIGHT_EYE = np.arange(36, 42)
LEFT_EYE = np.arange(42, 48)
LIPS = np.arange(48, 68)

# Local face frame: the unit box shifted so that the origin is halfway between
# the ears (jaw points 0 and 16). Unit = face width.
_ORIGIN = np.array([0.5, 0.167])

# How far each point moves down per unit of mouth opening (lower lip and jaw).
_OPEN_WEIGHTS = np.zeros(NUM_POINTS)
_OPEN_WEIGHTS[[65, 66, 67]] = 1.0
_OPEN_WEIGHTS[[56, 57, 58]] = 0.85
_OPEN_WEIGHTS[[55, 59]] = 0.45
_OPEN_WEIGHTS[[7, 8, 9]] = [0.3, 0.35, 0.3]
_OPEN_WEIGHTS[[5, 6, 10, 11]] = [0.1, 0.2, 0.2, 0.1]

# Depth (towards the camera, face widths) added to a head-sized sphere; used by yaw.
_HEAD_RADIUS = 0.62
_BUMP = np.zeros(NUM_POINTS)
_BUMP[NOSE_BRIDGE] = [0.05, 0.09, 0.13, 0.17]
_BUMP[NOSE_BASE] = 0.1
_BUMP[LIPS] = 0.04
_BUMP[BROWS] = 0.02

# 256 equally likely values of a standard normal variable: noise = _NORMAL_QUANTILES[random byte].
_NORMAL_QUANTILES = np.array([NormalDist().inv_cdf((i + 0.5) / 256) for i in range(256)], np.float32)

_SKIN_TONES: list[RGB] = [
    (255, 224, 200), (241, 200, 170), (228, 178, 140), (205, 150, 110),
    (176, 120, 84), (140, 92, 62), (100, 66, 46), (72, 48, 36),
]
_HAIR_COLOURS: list[RGB] = [
    (22, 18, 16), (45, 30, 22), (78, 50, 32), (118, 80, 46), (176, 136, 82),
    (214, 186, 130), (140, 58, 28), (150, 148, 146), (222, 220, 214),
]
_IRIS_COLOURS: list[RGB] = [
    (86, 54, 34), (58, 36, 22), (120, 88, 48), (82, 112, 70), (70, 112, 158), (112, 124, 134),
]


# --------------------------------------------------------------------------- #
# Parameters
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class _Shape:
    """Expression and identity, in face widths (see :func:`_face_points`)."""

    mouth_open: float
    smile: float
    brow_raise: float
    face_width: float
    face_length: float
    jaw_width: float
    chin_length: float
    eye_size: float
    eye_opening: float
    eye_spacing: float
    eye_height: float
    nose_length: float
    nose_width: float
    mouth_width: float
    lip_thickness: float
    mouth_height: float
    brow_height: float
    brow_tilt: float
    jitter: np.ndarray  # (68, 2) face widths


@dataclass(frozen=True)
class _Pose:
    roll: float  # degrees, positive = clockwise on screen
    yaw: float  # degrees, positive = face turned towards the image right
    face_scale: float  # face width (jaw 0 to 16) / image width
    shift: tuple[float, float]  # landmark box centre offset / image size


@dataclass(frozen=True)
class _Look:
    skin: RGB
    lips: RGB
    hair_style: str
    hair_colour: RGB
    brows: RGB
    brow_thickness: float
    hair_volume: float
    hairline: float  # forehead height above the brows (short, long)
    fringe: float  # gap between fringe and brows
    curl: float  # bumpiness of the hair outline, 0 = smooth
    hair_length: float  # long hair: how far below the chin
    head_height: float
    ears: bool
    iris: RGB
    iris_size: float
    gaze: tuple[float, float]
    clothes: RGB
    blush: int
    background: str
    background_colours: tuple[RGB, RGB]
    lighting: float
    light_angle: float
    blur: float
    noise: float


def _jittered(rng: np.random.Generator, palette: Sequence[RGB], spread: float) -> RGB:
    base = np.array(palette[rng.integers(len(palette))], float)
    return _rgb(base + rng.uniform(-spread, spread, 3))


def _rgb(values) -> RGB:
    """Three numbers -> an (r, g, b) tuple of ints in 0..255."""
    r, g, b = (min(255, max(0, int(round(float(v))))) for v in values)
    return r, g, b


def _luminance(c: RGB) -> float:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return _rgb([(1 - t) * x + t * y for x, y in zip(a, b)])


def _shade(c: RGB, factor: float) -> RGB:
    return _rgb([x * factor for x in c])


def _sample_shape(rng: np.random.Generator, variation: float) -> _Shape:
    """Draw expression and identity (always the same draws, whatever ``variation``)."""
    v = variation
    u = rng.uniform
    opening, is_open = u(0.005, 0.13), u() < 0.55
    return _Shape(
        mouth_open=opening if is_open else 0.0,
        smile=u(-0.3, 1.0),
        brow_raise=u(-0.015, 0.04),
        face_width=1 + v * u(-0.1, 0.08),
        face_length=1 + v * u(-0.07, 0.1),
        jaw_width=1 + v * u(-0.15, 0.08),
        chin_length=v * u(-0.03, 0.04),
        eye_size=1 + v * u(-0.12, 0.2),
        eye_opening=1 + v * u(-0.3, 0.2),
        eye_spacing=v * u(-0.02, 0.025),
        eye_height=v * u(-0.015, 0.015),
        nose_length=v * u(-0.04, 0.05),
        nose_width=1 + v * u(-0.12, 0.25),
        mouth_width=1 + v * u(-0.15, 0.15),
        lip_thickness=1 + v * u(-0.3, 0.3),
        mouth_height=v * u(-0.025, 0.02),
        brow_height=v * u(-0.02, 0.025),
        brow_tilt=v * u(-0.02, 0.02),
        jitter=rng.standard_normal((NUM_POINTS, 2)),
    )


def _sample_pose(rng: np.random.Generator) -> _Pose:
    """Draw roll, yaw, scale and shift."""
    return _Pose(
        roll=float(np.clip(rng.normal(0.0, 12.0), -30.0, 30.0)),
        yaw=rng.uniform(-18.0, 18.0),
        face_scale=rng.uniform(0.45, 0.62),
        shift=(rng.uniform(-0.06, 0.06), rng.uniform(-0.06, 0.06)),
    )


def _sample_look(rng: np.random.Generator) -> _Look:
    """Draw colours, hair, background and camera effects."""
    u = rng.uniform
    skin = _jittered(rng, _SKIN_TONES, 10)
    lips = _shade(_mix(skin, (196, 78, 92), u(0.25, 0.45)), u(0.78, 0.92))
    hair_style = HAIR_STYLES[rng.choice(len(HAIR_STYLES), p=[0.15, 0.35, 0.3, 0.2])]
    hair_colour = _jittered(rng, _HAIR_COLOURS, 12)
    brows = _mix(hair_colour, (40, 30, 24), u(0.3, 0.6)) if hair_style != "none" else _shade(skin, u(0.3, 0.5))
    brows = _shade(brows, min(1.0, 0.7 * _luminance(skin) / max(_luminance(brows), 1.0)))  # darker than skin
    background_colours = (_rgb(rng.uniform(0, 255, 3)), _rgb(rng.uniform(0, 255, 3)))
    curl, is_curly = u(0.01, 0.03), u() < 0.3
    blur, is_blurred = u(0.3, 1.0), u() < 0.5
    return _Look(
        skin=skin,
        lips=lips,
        hair_style=hair_style,
        hair_colour=hair_colour,
        brows=brows,
        brow_thickness=u(0.022, 0.042),
        hair_volume=u(0.02, 0.09),
        hairline=u(0.26, 0.4),
        fringe=u(0.035, 0.09),
        curl=curl if is_curly else 0.0,
        hair_length=u(0.1, 0.5),
        head_height=u(0.62, 0.72),
        ears=bool(u() < 0.8),
        iris=_jittered(rng, _IRIS_COLOURS, 10),
        iris_size=u(0.9, 1.12),
        gaze=(u(-0.25, 0.25), u(-0.15, 0.15)),
        clothes=_rgb(rng.uniform(20, 235, 3)),
        blush=int(rng.integers(0, 28)),
        background=BACKGROUNDS[rng.integers(len(BACKGROUNDS))],
        background_colours=background_colours,
        lighting=u(0.0, 0.25),
        light_angle=u(0, 2 * np.pi),
        blur=blur if is_blurred else 0.0,
        noise=u(0.0, 6.0),
    )


def _override(params, **values):
    """Copy of a frozen dataclass with the non-None ``values`` replaced."""
    return replace(params, **{name: v for name, v in values.items() if v is not None})


@dataclass(frozen=True)
class _Face:
    """Everything random about one face; the two generators feed the textures and the noise."""

    shape: _Shape
    pose: _Pose
    look: _Look
    texture_rng: np.random.Generator
    noise_rng: np.random.Generator


def _sample_face(rng: np.random.Generator, variation: float = 1.0, **options) -> _Face:
    """Draw a face, then apply the non-None ``options`` of :func:`render_face`.

    The shape, pose, look, texture and noise draws come from separate child
    generators, so fixing one option leaves every other choice unchanged.
    """
    if options.get("hair") is not None and options["hair"] not in HAIR_STYLES:
        raise ValueError(f"hair={options['hair']!r} is not a hair style; choose one of {HAIR_STYLES}.")
    if options.get("background") is not None and options["background"] not in BACKGROUNDS:
        raise ValueError(f"background={options['background']!r} is not a background; choose one of {BACKGROUNDS}.")
    shape_rng, pose_rng, look_rng, texture_rng, noise_rng = rng.spawn(5)
    o = options.get
    shape = _override(
        _sample_shape(shape_rng, variation), mouth_open=o("mouth_open"), smile=o("smile"), brow_raise=o("brow_raise")
    )
    pose = _override(_sample_pose(pose_rng), roll=o("roll"), yaw=o("yaw"), face_scale=o("face_scale"), shift=o("shift"))
    look = _override(
        _sample_look(look_rng),
        hair_style=o("hair"), background=o("background"), lighting=o("lighting"), blur=o("blur"), noise=o("noise"),
    )
    return _Face(shape, pose, look, texture_rng, noise_rng)


# --------------------------------------------------------------------------- #
# Geometry: canonical shape -> varied local shape -> pixels
# --------------------------------------------------------------------------- #


def _scale_about(points: np.ndarray, idx: np.ndarray, sx: float, sy: float, centre=None) -> np.ndarray:
    """Copy of ``points`` (68, 2) with ``points[idx]`` scaled by (sx, sy) about their mean or ``centre``."""
    out = points.copy()
    c = out[idx].mean(axis=0) if centre is None else np.asarray(centre, float)
    out[idx] = c + (out[idx] - c) * [sx, sy]
    return out


def _open_mouth(points: np.ndarray, amount: float) -> np.ndarray:
    """Drop the lower lip and the chin by ``amount`` face widths (0 = closed)."""
    out = points.copy()
    out[:, 1] += amount * _OPEN_WEIGHTS
    return out


def _smile(points: np.ndarray, amount: float) -> np.ndarray:
    """Pull the mouth corners up and out (``amount`` < 0 turns them down)."""
    out = points.copy()
    for corner, sign in ((48, -1), (60, -1), (54, 1), (64, 1)):
        out[corner] += [sign * 0.025 * amount, -0.035 * amount]
    out[[49, 53, 59, 55, 61, 63, 65, 67], 1] -= 0.012 * amount
    return out


def _raise_brows(points: np.ndarray, amount: float, tilt: float) -> np.ndarray:
    """Lift the brows by ``amount``; ``tilt`` > 0 lifts the inner ends more."""
    out = points.copy()
    inner_weight = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    out[RIGHT_BROW, 1] -= amount + tilt * inner_weight
    out[LEFT_BROW, 1] -= amount + tilt * inner_weight[::-1]
    return out


def _face_points(shape: _Shape, jitter: float) -> np.ndarray:
    """(68, 2) float64 landmarks in the local face frame (face widths, y down)."""
    p = MEAN_SHAPE.astype(np.float64) - _ORIGIN
    p = _open_mouth(p, shape.mouth_open)
    p = _smile(p, shape.smile)
    p = _raise_brows(p, shape.brow_raise + shape.brow_height, shape.brow_tilt)
    for eye, side in ((RIGHT_EYE, -1), (LEFT_EYE, 1)):
        p = _scale_about(p, eye, shape.eye_size, shape.eye_size * shape.eye_opening)
        p[eye] += [side * shape.eye_spacing, shape.eye_height]
    p[NOSE_BRIDGE[1:], 1] += shape.nose_length * np.array([1 / 3, 2 / 3, 1.0])
    p[NOSE_BASE, 1] += shape.nose_length
    p = _scale_about(p, NOSE_BASE, shape.nose_width, 1.0, centre=p[33])
    p = _scale_about(p, LIPS, shape.mouth_width, 1.0)
    p[LIPS, 1] += shape.mouth_height + 0.4 * shape.nose_length
    p = _thicken_lips(p, shape.lip_thickness)
    # jaw: narrower or wider towards the chin, longer or shorter chin
    low = np.clip((p[JAW, 1] - 0.2) / 0.6, 0.0, 1.0)
    p[JAW, 0] *= 1 + (shape.jaw_width - 1) * low
    p[JAW, 1] += shape.chin_length * low**2
    p[:, 0] *= shape.face_width
    p[:, 1] *= shape.face_length
    p += jitter * shape.jitter
    return _keep_lips_apart(p)


def _thicken_lips(points: np.ndarray, factor: float) -> np.ndarray:
    """Scale the lips' thickness: outer contours move relative to the inner ones."""
    out = points.copy()
    for outer, inner in (([49, 50, 51, 52, 53], [61, 61, 62, 63, 63]), ([55, 56, 57, 58, 59], [65, 65, 66, 67, 67])):
        out[outer, 1] = out[inner, 1] + (out[outer, 1] - out[inner, 1]) * factor
    return out


def _keep_lips_apart(points: np.ndarray) -> np.ndarray:
    """Inner lower lip never above the inner upper lip (jitter could cross them)."""
    out = points.copy()
    for upper, lower in ((61, 67), (62, 66), (63, 65)):
        out[lower, 1] = max(out[lower, 1], out[upper, 1])
    return out


def _yaw(xy: np.ndarray, bump, angle_deg: float) -> np.ndarray:
    """Turn local points (..., 2) about the vertical axis of a head-sized sphere.

    ``bump`` (broadcastable to xy[..., 0]) is depth in front of the sphere (the
    nose sticks out). Orthographic projection; y is unchanged.
    """
    a = np.deg2rad(angle_deg)
    out = np.array(xy, dtype=np.float64)  # a copy
    x = out[..., 0]
    z = np.sqrt(np.maximum(_HEAD_RADIUS**2 - x * x, 0.0)) + bump
    out[..., 0] = x * np.cos(a) + z * np.sin(a)
    return out


@dataclass(frozen=True)
class _Placement:
    """Yaw, then the similarity ``offset + scale * R @ xy`` to image pixels."""

    scale: float  # pixels per face width
    rotation: np.ndarray  # (2, 2)
    offset: np.ndarray  # (2,)
    yaw: float  # degrees

    def to_pixels(self, xy: np.ndarray, bump=0.0) -> np.ndarray:
        """Local (..., 2) -> (..., 2) continuous image pixels; ``bump`` as in :func:`_yaw`."""
        return self.offset + _yaw(xy, bump, self.yaw) @ (self.scale * self.rotation.T)


def _place(local: np.ndarray, pose: _Pose, size: int) -> _Placement:
    """Scale, roll and shift so the landmark box sits near the image centre, inside it."""
    a = np.deg2rad(pose.roll)
    rotation = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    scale = pose.face_scale * size
    placed = scale * _yaw(local, _BUMP, pose.yaw) @ rotation.T
    lo, hi = placed.min(axis=0), placed.max(axis=0)
    margin = 0.03 * size
    offset = size / 2 - (lo + hi) / 2 + np.asarray(pose.shift) * size
    offset = np.clip(offset, margin - lo, size - margin - hi)
    return _Placement(scale=scale, rotation=rotation, offset=offset, yaw=pose.yaw)


@lru_cache(maxsize=None)
def _spline_basis(m: int, samples: int, closed: bool) -> np.ndarray:
    """Matrix mapping M control points to the samples of their Catmull-Rom curve (see :func:`_spline`)."""
    t = np.arange(samples) / samples
    weights = 0.5 * np.stack(  # (samples, 4): weights of p[i-1], p[i], p[i+1], p[i+2]
        [-t + 2 * t**2 - t**3, 2 - 5 * t**2 + 3 * t**3, t + 4 * t**2 - 3 * t**3, -(t**2) + t**3], axis=1
    )
    if closed:
        ext = np.eye(m)[[m - 1, *range(m), 0, 1]]
    else:  # reflect the end points to make the end tangents
        ext = np.concatenate([2 * np.eye(m)[:1] - np.eye(m)[1:2], np.eye(m), 2 * np.eye(m)[-1:] - np.eye(m)[-2:-1]])
    segments = m if closed else m - 1
    rows = [weights @ ext[i : i + 4] for i in range(segments)]
    if not closed:
        rows.append(np.eye(m)[-1:])
    basis = np.concatenate(rows)
    basis.setflags(write=False)
    return basis


def _spline(points: np.ndarray, samples: int = 6, closed: bool = False) -> np.ndarray:
    """Catmull-Rom curve through ``points`` (M, 2): passes through every point exactly.

    Returns ((M - 1) * samples + 1, 2) points for an open curve, (M * samples, 2) closed.
    """
    p = np.asarray(points, np.float64)
    return _spline_basis(len(p), samples, closed) @ p


@lru_cache(maxsize=None)
def _unit_circle(n: int) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    circle = np.stack([np.cos(t), np.sin(t)], axis=1)
    circle.setflags(write=False)
    return circle


def _ellipse(centre, rx: float, ry: float, angle: float = 0.0, n: int = 28) -> np.ndarray:
    """(n, 2) polygon of an ellipse in local coordinates, rotated by ``angle`` radians."""
    c, s = np.cos(angle), np.sin(angle)
    return np.asarray(centre, float) + _unit_circle(n) @ (np.array([[c, -s], [s, c]]) * [rx, ry]).T


def _offset_curve(curve: np.ndarray, distance) -> np.ndarray:
    """Move every point of an open curve (M, 2) sideways by ``distance`` (scalar or (M,)).

    Positive distance is to the right of the direction of travel in a y-down frame.
    """
    d = np.gradient(curve, axis=0)
    d /= np.linalg.norm(d, axis=1, keepdims=True) + 1e-12
    normal = np.stack([-d[:, 1], d[:, 0]], axis=1)
    return curve + normal * np.asarray(distance, float).reshape(-1, 1)


# --------------------------------------------------------------------------- #
# Drawing
# --------------------------------------------------------------------------- #


class _Painter:
    """Draws local-frame shapes on a supersampled PIL canvas.

    A local point goes through :meth:`_Placement.to_pixels` (continuous image
    pixels) and is multiplied by ``supersample``. PIL's float coordinates follow
    the same continuous convention (a polygon from x = 10.0 to 20.0 fills pixels
    10..19 plus at most one pixel of outline; its centroid is unbiased), so no
    half-pixel shift is needed. ``origin`` is the canvas's corner in the full
    supersampled image (non-zero for the crops of :meth:`clipped`). Colours are
    RGB (opaque) or RGBA (blended, about 10x slower per pixel).
    """

    def __init__(self, canvas: Image.Image, placement: _Placement, supersample: int, origin=(0.0, 0.0)):
        self.canvas = canvas
        self.placement = placement
        self.k = supersample
        self.origin = np.asarray(origin, np.float64)
        self._opaque = ImageDraw.Draw(canvas)
        self._blend = ImageDraw.Draw(canvas, "RGBA")

    def px(self, local, bump=0.0) -> list[tuple[float, float]]:
        xy = self.placement.to_pixels(local, bump) * self.k - self.origin
        return [tuple(q) for q in xy.tolist()]

    def width(self, local_width: float) -> int:
        """Line width in canvas pixels, odd so that PIL centres the line on its points."""
        w = int(round(local_width * self.placement.scale * self.k))
        return w + 1 if w % 2 == 0 else w

    def polygon(self, local, fill, bump=0.0) -> None:
        draw = self._blend if len(fill) == 4 else self._opaque
        draw.polygon(self.px(local, bump), fill=fill)

    def line(self, local, fill, width: float, bump=0.0) -> None:
        draw = self._blend if len(fill) == 4 else self._opaque
        draw.line(self.px(local, bump), fill=fill, width=self.width(width))

    def clipped(self, clip_local, paint: Callable[["_Painter"], None], bump=0.0) -> None:
        """Let ``paint`` draw on a crop around the clip polygon, then paste the crop back inside the polygon."""
        xy = np.array(self.px(clip_local, bump))
        w, h = self.canvas.size
        x0, y0 = np.maximum(np.floor(xy.min(axis=0)).astype(int) - 1, 0)
        x1, y1 = np.minimum(np.ceil(xy.max(axis=0)).astype(int) + 2, [w, h])
        if x1 <= x0 or y1 <= y0:
            return
        box = (int(x0), int(y0), int(x1), int(y1))
        layer = self.canvas.crop(box)
        paint(_Painter(layer, self.placement, self.k, self.origin + [x0, y0]))
        mask = Image.new("L", layer.size, 0)
        ImageDraw.Draw(mask).polygon([tuple(q) for q in (xy - [x0, y0]).tolist()], fill=255)
        self.canvas.paste(layer, box[:2], mask)


def _skull(p: np.ndarray, look: _Look, grow: float = 0.0, n: int = 15) -> np.ndarray:
    """Skull outline from jaw point 16 over the head to jaw point 0, (n, 2) local.

    ``grow`` pushes it outwards (hair volume). A squarish superellipse, slightly
    wider at the temples than at the ears.
    """
    left, right = p[0], p[16]
    centre = (left + right) / 2
    half = np.linalg.norm(right - left) / 2
    t = np.linspace(0, np.pi, n)
    c, s = np.cos(t), np.sin(t)
    bulge = 1 + 0.05 * np.sin(2 * t) ** 2
    x = np.sign(c) * np.abs(c) ** 0.8 * (half * bulge + grow)
    y = -(s**0.9) * (look.head_height + grow)
    return centre + np.stack([x, y], axis=1)


def _head_outline(p: np.ndarray, look: _Look) -> np.ndarray:
    """Closed head polygon: the jaw (0 -> 16) then the skull back to 0."""
    return np.concatenate([_spline(p[JAW], 3), _skull(p, look)[1:-1]])


def _draw_background(look: _Look, size: int, rng: np.random.Generator) -> Image.Image:
    """(size, size) RGB background: flat, gradient, smooth noise or random shapes."""
    c0, c1 = (np.array(c, np.float32) for c in look.background_colours)
    kind = look.background
    if kind == "flat":
        return Image.new("RGB", (size, size), look.background_colours[0])
    if kind == "gradient":
        a = rng.uniform(0, 2 * np.pi)
        g = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5
        t = np.clip(g[None, :] * np.cos(a) + g[:, None] * np.sin(a) + 0.5, 0, 1)[..., None]
        return Image.fromarray(((1 - t) * c0 + t * c1).astype(np.uint8))
    if kind == "noise":
        cells = int(rng.integers(3, 12))
        field = c0 + (c1 - c0) * rng.uniform(0, 1, (cells, cells, 1)).astype(np.float32)
        smooth = np.asarray(Image.fromarray(field.astype(np.uint8)).resize((size, size), Image.BICUBIC), np.float32)
        grain = rng.standard_normal((size, size, 1), dtype=np.float32) * rng.uniform(3, 14)
        return Image.fromarray(np.clip(smooth + grain, 0, 255).astype(np.uint8))
    im = Image.new("RGB", (size, size), look.background_colours[0])
    draw = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(4, 12))):
        x0, y0 = rng.uniform(-0.2, 1.0, 2) * size
        w, h = rng.uniform(0.1, 0.6, 2) * size
        colour = _mix(look.background_colours[1], _rgb(rng.uniform(0, 255, 3)), rng.uniform(0, 0.6))
        shape = draw.ellipse if rng.uniform() < 0.4 else draw.rectangle
        shape([x0, y0, x0 + w, y0 + h], fill=colour)
    return im.filter(ImageFilter.BoxBlur(rng.uniform(0, 2)))


def _draw_body(pt: _Painter, p: np.ndarray, look: _Look) -> None:
    """Neck and shoulders (with clothes) below the chin."""
    width = np.linalg.norm(p[16] - p[0])
    mid = (p[0] + p[16]) / 2
    base = p[8, 1] + 0.3
    neck = np.array(
        [[-0.27, 0.2], [-0.28, base + 0.05], [-0.32, base + 0.4], [0.32, base + 0.4], [0.28, base + 0.05], [0.27, 0.2]]
    )
    pt.polygon(neck * [width, 1] + [mid[0], 0], _shade(look.skin, 0.8))
    shoulders = np.array(
        [
            [-0.27, base], [-0.65, base + 0.08], [-1.0, base + 0.25], [-1.25, base + 0.7], [-1.4, base + 3.0],
            [1.4, base + 3.0], [1.25, base + 0.7], [1.0, base + 0.25], [0.65, base + 0.08], [0.27, base],
            [0.16, base + 0.13], [0.0, base + 0.17], [-0.16, base + 0.13],
        ]
    )
    pt.polygon(shoulders * [width, 1] + [mid[0], 0], look.clothes)


def _draw_ears(pt: _Painter, p: np.ndarray, look: _Look) -> None:
    """Ears behind the head outline at jaw points 0 and 16 (only the outer half shows)."""
    if not look.ears or look.hair_style == "long":
        return
    for side, i in ((-1, 0), (1, 16)):
        centre = p[i] + [side * 0.03, 0.1]
        pt.polygon(_ellipse(centre, 0.065, 0.14, side * 0.15, n=20), _shade(look.skin, 0.93))
        pt.polygon(_ellipse(centre + [side * 0.012, 0.0], 0.035, 0.095, side * 0.15, n=16), _shade(look.skin, 0.75))


def _hairline(p: np.ndarray, look: _Look, n: int = 25) -> np.ndarray:
    """(n, 2) lower edge of the hair from the left temple across the forehead to the right."""
    centre = (p[0] + p[16]) / 2
    half = np.linalg.norm(p[16] - p[0]) / 2
    brow_top = p[BROWS, 1].min()
    fringe = look.hair_style == "fringe"
    top = brow_top - (look.fringe if fringe else look.hairline)
    bottom = centre[1] - 0.02
    t = np.linspace(np.pi, 0, n)
    x = centre[0] + 0.97 * half * np.cos(t)
    y = bottom - (bottom - top) * np.sin(t) ** (0.3 if fringe else 0.5)
    if fringe:  # a ragged edge
        y = y + 0.02 * (np.arange(n) % 2) * (np.abs(np.cos(t)) < 0.8)
    return np.stack([x, y], axis=1)


def _hair_cap(p: np.ndarray, look: _Look) -> np.ndarray:
    """Closed polygon of the hair on the head: over the skull, down to the hairline."""
    grow = look.hair_volume
    outer = _skull(p, look, grow=grow, n=41)  # right ear -> over the top -> left ear
    if look.curl:
        t = np.linspace(0, 1, len(outer))
        outer = _offset_curve(outer, -look.curl * np.abs(np.sin(np.pi * 14 * t)))
    centre = (p[0] + p[16]) / 2
    side = np.linalg.norm(p[16] - p[0]) / 2 + 0.6 * grow
    return np.concatenate([[centre + [side, 0.05]], outer, [centre + [-side, 0.05]], _hairline(p, look)])


def _draw_hair_back(pt: _Painter, p: np.ndarray, look: _Look) -> None:
    """Long hair falling behind the head to the shoulders."""
    if look.hair_style != "long":
        return
    grow = look.hair_volume + 0.02
    top = _skull(p, look, grow=grow)
    centre = (p[0] + p[16]) / 2
    half = np.linalg.norm(p[16] - p[0]) / 2 + grow
    drop = p[8, 1] + look.hair_length - centre[1]
    right = centre + np.array([[half + 0.06, drop], [half + 0.01, 0.3]])
    left = centre + np.array([[-half - 0.01, 0.3], [-half - 0.06, drop]])
    pt.polygon(np.concatenate([right, top, left]), _shade(look.hair_colour, 0.8))


def _draw_head(pt: _Painter, p: np.ndarray, look: _Look) -> None:
    """Skin of the head, a soft jaw line and cheek blush."""
    pt.polygon(_head_outline(p, look), look.skin)
    # Shading over the flat skin is drawn opaque in the pre-blended colour (blending is slow).
    shade = _shade(look.skin, 0.55)
    contour = _spline(p[JAW], 3)
    colour = look.skin
    for depth in (0.07, 0.035):  # two soft bands darken the sides of the face
        colour = _mix(colour, shade, 0.065)
        pt.polygon(np.concatenate([contour, _offset_curve(contour, -depth)[::-1]]), colour)
    chin = _offset_curve(_spline(p[5:12], 3), -0.006)  # the jaw line against the neck, just inside the edge
    pt.line(chin, (*shade, 50), 0.008)
    if look.blush:
        for a, b in ((3, 41), (13, 46)):
            centre = 0.45 * p[a] + 0.55 * p[b] + [0, 0.1]
            pt.polygon(_ellipse(centre, 0.08, 0.05, n=16), _mix(look.skin, (200, 70, 80), look.blush / 255))


def _draw_hair_front(pt: _Painter, p: np.ndarray, look: _Look) -> None:
    """The hair cap over the skull, with a few strands for texture."""
    if look.hair_style == "none":
        return
    pt.polygon(_hair_cap(p, look), look.hair_colour)
    inner = _skull(p, look, grow=0.3 * look.hair_volume, n=13)[::-1][2:-2]  # left -> right
    line = _hairline(p, look, n=13)[2:-2]
    for k, (a, b) in enumerate(zip(inner, line)):
        strand = np.array([a, 0.5 * (a + b) + [0.015 * (k - 4), 0.0], a + 0.88 * (b - a)])
        colour = (*_shade(look.hair_colour, 0.7), 90) if k % 2 else (*_mix(look.hair_colour, (255, 255, 255), 0.25), 60)
        pt.line(_spline(strand, 4), colour, 0.008)


def _draw_brows(pt: _Painter, p: np.ndarray, look: _Look) -> None:
    """Each brow: a band around its landmark curve, mostly below it, thickest inside."""
    th = look.brow_thickness
    for idx, taper in ((RIGHT_BROW, [0.45, 0.8, 1.0, 1.0, 0.9]), (LEFT_BROW, [0.9, 1.0, 1.0, 0.8, 0.45])):
        top = _spline(p[idx], 4)
        profile = np.interp(np.linspace(0, 4, len(top)), np.arange(5), taper) * th
        upper = _offset_curve(top, -0.3 * profile)  # both brows run left to right: + is down
        lower = _offset_curve(top, 0.7 * profile)
        pt.polygon(np.concatenate([upper, lower[::-1]]), look.brows, bump=0.02)


def _eye_outline(eye: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upper lid (corner 0 -> corner 3) and lower lid (corner 3 -> corner 0) through 6 eye points."""
    return _spline(eye[[0, 1, 2, 3]], 5), _spline(eye[[3, 4, 5, 0]], 5)


def _draw_eye(pt: _Painter, eye: np.ndarray, look: _Look) -> None:
    """Sclera, iris, pupil and glint inside the lids; then lid lines and a crease.

    eye: (6, 2) local points in iBUG order (corner, upper lid x2, corner, lower lid x2).
    """
    upper, lower = _eye_outline(eye)
    outline = np.concatenate([upper, lower[1:-1]])
    width = np.linalg.norm(eye[3] - eye[0])
    r = 0.21 * width * look.iris_size
    iris = eye.mean(axis=0) + np.array(look.gaze) * r

    def inside(sub: _Painter) -> None:
        sub.polygon(outline, _mix((236, 232, 226), look.skin, 0.12))
        sub.polygon(_ellipse(iris, r, r, n=20), _shade(look.iris, 0.65))
        sub.polygon(_ellipse(iris, 0.8 * r, 0.8 * r, n=20), look.iris)
        sub.polygon(_ellipse(iris, 0.42 * r, 0.42 * r, n=16), (14, 10, 10))
        sub.polygon(_ellipse(iris + [-0.35 * r, -0.35 * r], 0.15 * r, 0.15 * r, n=8), (255, 255, 255, 210))
        sub.polygon(np.concatenate([upper, _offset_curve(upper, 0.16 * width)[::-1]]), (40, 25, 20, 60))

    pt.clipped(outline, inside)
    pt.line(upper, (*_shade(look.brows, 0.5), 235), 0.012)
    pt.line(lower, (*_shade(look.skin, 0.6), 130), 0.005)
    pt.line(_offset_curve(upper[3:-3], -0.22 * width), (*_shade(look.skin, 0.55), 80), 0.006)


def _draw_nose(pt: _Painter, p: np.ndarray, look: _Look) -> None:
    """Side shading of the bridge, alae, nostrils, base line, shadow and tip highlight."""
    dark = _shade(look.skin, 0.55)
    base = float(_BUMP[33])  # depth of the nose base points, so yaw moves these shapes with them
    for side, wing in ((-1, 31), (1, 35)):
        bridge = np.array([p[27] + [side * 0.045, 0.02], p[29] + [side * 0.05, 0.0], p[wing] + [side * 0.005, -0.06]])
        pt.line(_spline(bridge, 4), (*dark, 50), 0.014, bump=0.08)
        ala = p[wing] + np.array([[-side * 0.005, 0.0], [side * 0.012, -0.035], [-side * 0.02, -0.07]])
        pt.line(_spline(ala, 4), (*dark, 150), 0.007, bump=0.08)
    nostrils = (0.45 * p[31] + 0.55 * p[32] + [0.004, -0.012], 0.45 * p[35] + 0.55 * p[34] + [-0.004, -0.012])
    for centre, angle in zip(nostrils, (0.25, -0.25)):
        pt.polygon(_ellipse(centre, 0.025, 0.011, angle, n=14), (*_shade(look.skin, 0.3), 230), bump=base)
    pt.line(_spline(p[NOSE_BASE], 4), (*dark, 110), 0.006, bump=base)
    pt.polygon(_ellipse((p[30] + p[33]) / 2 + [0, 0.012], 0.04, 0.018, n=16), (*dark, 40), bump=0.12)
    pt.polygon(_ellipse(p[30] + [0, -0.01], 0.022, 0.03, n=16), (255, 255, 255, 40), bump=float(_BUMP[30]))


def _lip_curves(p: np.ndarray) -> dict[str, np.ndarray]:
    """Outer / inner, upper / lower lip curves through the lip landmarks, corner to corner."""
    return {
        "outer_upper": _spline(p[48:55], 4),
        "outer_lower": _spline(p[[54, 55, 56, 57, 58, 59, 48]], 4),
        "inner_upper": _spline(p[60:65], 4),
        "inner_lower": _spline(p[[64, 65, 66, 67, 60]], 4),
    }


def _draw_mouth(pt: _Painter, p: np.ndarray, look: _Look) -> None:
    """Mouth interior (dark, with teeth and tongue) when open, then the lips."""
    c = _lip_curves(p)
    bump = float(_BUMP[48])
    gap = np.max(p[[67, 66, 65], 1] - p[[61, 62, 63], 1])
    if gap > 1e-3:
        interior = np.concatenate([c["inner_upper"], c["inner_lower"][1:-1]])
        width = np.linalg.norm(p[64] - p[60])

        def inside(sub: _Painter) -> None:
            sub.polygon(interior, (62, 18, 24), bump=bump)
            teeth = c["inner_upper"]
            lower_edge = teeth + [0, min(0.035, 0.45 * gap)]
            sub.polygon(np.concatenate([teeth, lower_edge[::-1]]), (236, 230, 214), bump=bump)
            tongue = (p[66] + p[62]) / 2 + [0, 0.6 * gap]
            sub.polygon(_ellipse(tongue, 0.3 * width, 0.45 * gap, n=16), (170, 70, 78), bump=bump)

        pt.clipped(interior, inside, bump=bump)
    pt.polygon(np.concatenate([c["outer_upper"], c["inner_upper"][::-1]]), _shade(look.lips, 0.9), bump=bump)
    pt.polygon(np.concatenate([c["outer_lower"], c["inner_lower"]]), look.lips, bump=bump)
    pt.line(c["inner_upper"], (*_shade(look.lips, 0.45), 200), 0.006, bump=bump)
    pt.polygon(_ellipse((p[57] + p[66]) / 2 + [0, -0.008], 0.025, 0.008, n=12), (255, 255, 255, 40), bump=bump)
    pt.polygon(_ellipse(p[57] + [0, 0.03], 0.06, 0.015, n=12), (*_shade(look.skin, 0.6), 45))


def _finish(image: Image.Image, look: _Look, rng: np.random.Generator) -> np.ndarray:
    """Blur, a linear lighting ramp and sensor noise on the final image; (H, W, 3) uint8."""
    if look.blur > 0:
        image = image.filter(ImageFilter.BoxBlur(look.blur))
    if look.lighting == 0 and look.noise == 0:
        return np.array(image)
    out = np.asarray(image, np.float32)
    h, w = out.shape[:2]
    if look.lighting > 0:
        gx = (np.arange(w, dtype=np.float32) + 0.5) / w - 0.5
        gy = (np.arange(h, dtype=np.float32) + 0.5) / h - 0.5
        strength = np.float32(2 * look.lighting)
        ramp = gx[None, :] * np.float32(np.cos(look.light_angle)) + gy[:, None] * np.float32(np.sin(look.light_angle))
        out *= (1 + strength * ramp)[..., None]
    if look.noise > 0:  # Gaussian noise from random bytes through the normal quantiles (fast)
        out += (_NORMAL_QUANTILES * np.float32(look.noise))[rng.integers(0, 256, (h, w), dtype=np.uint8)][..., None]
    out += 0.5
    return np.clip(out, 0, 255, out=out).astype(np.uint8)


# --------------------------------------------------------------------------- #
# Public API
# --------------------------------------------------------------------------- #


def render_face(
    rng_or_seed: Seed,
    size: int = 256,
    *,
    roll: Optional[float] = None,
    yaw: Optional[float] = None,
    face_scale: Optional[float] = None,
    shift: Optional[tuple[float, float]] = None,
    mouth_open: Optional[float] = None,
    smile: Optional[float] = None,
    brow_raise: Optional[float] = None,
    hair: Optional[str] = None,
    background: Optional[str] = None,
    lighting: Optional[float] = None,
    blur: Optional[float] = None,
    noise: Optional[float] = None,
    variation: float = 1.0,
    jitter: float = 0.004,
    supersample: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one synthetic face and return its exact 68 iBUG landmarks.

    rng_or_seed: an int seed or a ``np.random.Generator``; the same seed gives
    the same pixels and points. size: side of the square image in pixels.
    Options left as ``None`` are random; setting one never changes the other
    random choices (every draw happens either way):

    - roll: degrees, positive turns the face clockwise on screen (default: normal, sd 12, clipped to +-30).
    - yaw: degrees, positive turns the face towards the image right (default: uniform +-18).
    - face_scale: face width (jaw point 0 to 16) over image width (default: 0.45-0.62).
    - shift: ``(dx, dy)`` offset of the landmark box centre, in image sizes (default: +-0.06).
    - mouth_open: drop of the lower lip in face widths, 0 = closed (default: closed or up to 0.13).
    - smile: -0.3 (corners down) .. 1 (broad smile); brow_raise: face widths (default: -0.015..0.04).
    - hair: one of :data:`HAIR_STYLES`; background: one of :data:`BACKGROUNDS`.
    - lighting: strength of a linear light ramp (0 = none); blur: box-blur radius in pixels
      (0 = sharp); noise: sd of Gaussian pixel noise in 0..255 units.
    - variation: scales the random identity (face, jaw, eyes, nose, mouth proportions), 0 = the mean shape.
    - jitter: sd of the per-point jitter, face widths.
    - supersample: drawing resolution factor before box downscaling.

    With default options every point lies inside ``[0, size)``.

    Returns ``(image, points)``: image (size, size, 3) uint8 RGB; points (68, 2)
    float32 xy in continuous pixels (pixel j spans [j, j + 1), centre j + 0.5).
    """
    if int(size) < 8 or int(supersample) < 1:
        raise ValueError(f"size must be >= 8 and supersample >= 1, got size={size}, supersample={supersample}.")
    size, k = int(size), int(supersample)
    rng = rng_or_seed if isinstance(rng_or_seed, np.random.Generator) else np.random.default_rng(rng_or_seed)
    face = _sample_face(
        rng, variation, roll=roll, yaw=yaw, face_scale=face_scale, shift=shift, mouth_open=mouth_open, smile=smile,
        brow_raise=brow_raise, hair=hair, background=background, lighting=lighting, blur=blur, noise=noise,
    )
    shape, pose, look = face.shape, face.pose, face.look

    local = _face_points(shape, jitter)
    placement = _place(local, pose, size)
    points = placement.to_pixels(local, _BUMP)

    canvas = _draw_background(look, size, face.texture_rng).resize((size * k, size * k), Image.NEAREST)
    pt = _Painter(canvas, placement, k)
    _draw_hair_back(pt, local, look)
    _draw_body(pt, local, look)
    _draw_ears(pt, local, look)
    _draw_head(pt, local, look)
    _draw_hair_front(pt, local, look)
    _draw_nose(pt, local, look)
    _draw_eye(pt, local[RIGHT_EYE], look)
    _draw_eye(pt, local[LEFT_EYE], look)
    _draw_brows(pt, local, look)
    _draw_mouth(pt, local, look)
    image = canvas.reduce(k) if k > 1 else canvas
    return _finish(image, look, face.noise_rng), points.astype(np.float32)


def synthetic_faces(n: int, size: int = 256, seed: int = 0, **options) -> tuple[np.ndarray, np.ndarray]:
    """``n`` synthetic faces; face ``i`` depends only on ``(seed, i)``.

    Returns images (n, size, size, 3) uint8 RGB and points (n, 68, 2) float32 xy
    in continuous pixels (pixel j spans [j, j + 1)). ``options`` go to :func:`render_face`.
    """
    images = np.empty((n, size, size, 3), np.uint8)
    points = np.empty((n, NUM_POINTS, 2), np.float32)
    for i in range(n):
        images[i], points[i] = render_face(np.random.default_rng([seed, 0, i]), size, **options)
    return images, points


class SyntheticSplit:
    """A split of the synthetic dataset, same interface as the folder datasets.

    ``split[i]`` is a :class:`~lmkviz.data.folder.Sample` named
    ``"synthetic_<split>_<i:05d>"``: image (size, size, 3) uint8 RGB, points
    (68, 2) float32 xy in continuous pixels. Sample ``i`` is rendered on demand
    and depends only on ``(seed, split, i)``, whatever the access order.
    ``n`` defaults to :data:`SPLIT_SIZES` (train 1000, val 200, test 200);
    ``options`` go to :func:`render_face` (e.g. ``roll=0``). ``skipped`` is
    always empty and ``names`` lists every sample name, as for folder splits.
    """

    num_points = NUM_POINTS
    scheme_name = "ibug68"

    def __init__(self, split: str = "train", n: Optional[int] = None, size: int = 256, seed: int = 0, **options):
        if split not in SPLITS:
            raise ValueError(f"split={split!r} is not a synthetic split; choose one of {SPLITS}.")
        self.split = split
        self.n = SPLIT_SIZES[split] if n is None else int(n)
        if self.n < 0:
            raise ValueError(f"n must be >= 0, got {n}.")
        self.size = int(size)
        self.seed = int(seed)
        self.options = options
        self.skipped: list[tuple[str, str]] = []
        self.names = [f"synthetic_{split}_{i:05d}" for i in range(self.n)]

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> Sample:
        i = operator.index(i)
        if not -self.n <= i < self.n:
            raise IndexError(f"index {i} out of range for {self.n} synthetic {self.split} faces")
        i %= self.n
        rng = np.random.default_rng([self.seed, 1 + SPLITS.index(self.split), i])
        image, points = render_face(rng, self.size, **self.options)
        return Sample(image=image, points=points, name=self.names[i])

    def __repr__(self) -> str:
        return f"SyntheticSplit(split={self.split!r}, n={self.n}, size={self.size}, seed={self.seed})"
