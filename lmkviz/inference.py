"""From a photo to landmarks: load the image, find the face, crop, run, map back.

    predictor = Predictor("default")            # loads the checkpoint once
    result = predictor.predict(image)           # image: (H, W, 3) uint8 RGB
    result.points["dark"]                       # (K, 2) xy in image pixels

Steps of :meth:`Predictor.predict`:

1. face detection with OpenCV's Haar cascade (shipped inside the
   ``opencv-python-headless`` wheel, so it works offline); the largest face wins,
   and with no face the whole image is used (with a warning in ``result.notes``);
2. a square crop around the face with the same margin as the training data
   (``../shared/datasets/face68``: 1.7 x the landmark box, black padding outside
   the photo), resized to the network input;
3. the network's heatmaps, decoded by each decoder, mapped back to the original
   image: ``x_img = crop_left + x_input * crop_side / input_size`` (continuous
   pixel convention, no half-pixel offsets).

:func:`load_image` (from :mod:`lmkviz.images`, re-exported here) reads uploads robustly:
EXIF orientation, grey / RGBA / 16-bit images, huge images (downscaled, and said so),
decompression bombs refused, clear errors otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch

from lmkviz import checkpoint as ckpt
from lmkviz.evaluation import applicable_decoders, predict_heatmaps
from lmkviz.images import MAX_SIDE, LoadedImage, load_image  # noqa: F401  (re-exported: the loader lives in lmkviz.images)

CROP_MARGIN = 1.7
"""Crop side / landmark-box side, as in the training data (face68)."""

# Haar face box vs. the 68-point landmark box, measured on face68/train with
# haarcascade_frontalface_default (median over 324 faces): the Haar box is 1.13 x
# the landmark box's longer side and its centre sits 0.165 of that side higher.
HAAR_BOX_SCALE = 1.13
HAAR_CENTRE_SHIFT = (-0.011, -0.165)


# ----------------------------------------------------------------------------- faces

@dataclass(frozen=True)
class Box:
    """An axis-aligned box in image pixels: [x0, x1) x [y0, y1) (continuous coordinates)."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2

    def as_list(self) -> list[float]:
        return [float(self.x0), float(self.y0), float(self.x1), float(self.y1)]

    def as_dict(self, decimals: int = 2) -> dict:
        """{"x0", "y0", "x1", "y1"} rounded to ``decimals`` (for JSON)."""
        return {k: round(float(v), decimals) for k, v in zip(("x0", "y0", "x1", "y1"), self.as_list())}

    def scaled(self, factor: float) -> "Box":
        return Box(self.x0 * factor, self.y0 * factor, self.x1 * factor, self.y1 * factor)

    @classmethod
    def square(cls, cx: float, cy: float, side: float) -> "Box":
        """The square of side ``side`` centred on (cx, cy)."""
        half = float(side) / 2
        return cls(cx - half, cy - half, cx + half, cy + half)

    def _factors(self, size) -> np.ndarray:
        from lmkviz.coords import as_hw

        h, w = as_hw(size)
        return np.array([w / self.width, h / self.height], dtype=np.float64)

    def to_crop(self, points, size) -> np.ndarray:
        """(..., 2) image px -> (..., 2) px of this box cut out and resized to ``size``
        (an int or (H, W)), as :func:`crop_image` does: x_crop = (x - x0) * W / width."""
        pts = np.asarray(points, dtype=np.float64)
        return (pts - [self.x0, self.y0]) * self._factors(size)

    def from_crop(self, points, size) -> np.ndarray:
        """The inverse of :meth:`to_crop`: (..., 2) px of the ``size`` crop -> image px."""
        pts = np.asarray(points, dtype=np.float64)
        return pts / self._factors(size) + [self.x0, self.y0]


def whole_image_crop(image_shape) -> Box:
    """The square crop centred on the image whose side is its longer side."""
    h, w = image_shape[:2]
    return Box.square(w / 2, h / 2, max(h, w))


def initial_crop(image_shape, faces: Sequence[Box]) -> Box:
    """The crop to start from: around the first (largest) face, else :func:`whole_image_crop`."""
    return crop_from_face(faces[0]) if faces else whole_image_crop(image_shape)


@dataclass(frozen=True)
class CropLimits:
    """The ranges a manual square crop of one image may take (image px): its centre's
    ``x`` and ``y`` and its ``side``, each (low, high)."""

    x: tuple[float, float]
    y: tuple[float, float]
    side: tuple[float, float]

    def clamp(self, box: Box) -> Box:
        """``box`` as a square whose centre and side are moved into the ranges."""
        cx, cy = box.centre

        def clip(value: float, bounds: tuple[float, float]) -> float:
            return float(min(max(value, bounds[0]), bounds[1]))

        return Box.square(clip(cx, self.x), clip(cy, self.y), clip(max(box.width, box.height), self.side))


def crop_limits(image_shape, reach: float = 0.25, min_side: float = 16.0, max_side: float = 2.0) -> CropLimits:
    """Crop ranges for an (H, W, ...) image: the centre anywhere up to ``reach`` of the
    image's width/height past its borders, the side from ``min_side`` px to ``max_side``
    times the image's longer side."""
    h, w = image_shape[:2]
    return CropLimits(x=(-reach * w, (1 + reach) * w), y=(-reach * h, (1 + reach) * h),
                      side=(float(min_side), max_side * float(max(h, w))))


_CASCADE = None


def _cascade():
    global _CASCADE
    if _CASCADE is None:
        import cv2

        path = os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")
        cascade = cv2.CascadeClassifier(path)
        if cascade.empty():
            raise RuntimeError(f"OpenCV's face cascade could not be loaded from {path}")
        _CASCADE = cascade
    return _CASCADE


def detect_faces(image: np.ndarray, min_size: float = 0.08) -> list[Box]:
    """Faces in an (H, W, 3) uint8 RGB image, largest first (OpenCV Haar cascade).

    min_size: smallest face side as a fraction of the image's shorter side. The
    image is analysed at most 640 px wide for speed; boxes are in the image's pixels.
    """
    import cv2

    h, w = image.shape[:2]
    factor = min(1.0, 640.0 / max(h, w))
    small = cv2.resize(image, (max(1, round(w * factor)), max(1, round(h * factor))),
                       interpolation=cv2.INTER_AREA) if factor < 1 else image
    grey = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
    side = max(20, int(min(small.shape[:2]) * min_size))
    found = _cascade().detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(side, side))
    boxes = [Box(x / factor, y / factor, (x + bw) / factor, (y + bh) / factor) for x, y, bw, bh in found]
    return sorted(boxes, key=lambda b: b.width * b.height, reverse=True)


def crop_from_face(face: Box) -> Box:
    """Square crop for a Haar face box, matching the training data's framing."""
    side = max(face.width, face.height) / HAAR_BOX_SCALE  # ~ landmark box side
    cx, cy = face.centre
    cx -= HAAR_CENTRE_SHIFT[0] * side
    cy -= HAAR_CENTRE_SHIFT[1] * side
    return Box.square(cx, cy, CROP_MARGIN * side)


def crop_from_points(points: np.ndarray, margin: float = CROP_MARGIN) -> Box:
    """Square crop around known landmarks (K, 2), as the face68 crops were made."""
    pts = np.asarray(points, dtype=np.float64)
    pts = pts[np.isfinite(pts).all(axis=1)]
    lo, hi = pts.min(0), pts.max(0)
    cx, cy = (lo + hi) / 2
    return Box.square(float(cx), float(cy), margin * float(max(hi - lo)))


def crop_image(image: np.ndarray, box: Box, size: int) -> np.ndarray:
    """Cut ``box`` out of an (H, W, 3) uint8 image into a (size, size, 3) uint8 crop.

    Parts of the box outside the image are black. Exact in the continuous
    convention: crop pixel centre (j + 0.5) samples image x = x0 + (j + 0.5) * side / size.
    """
    import cv2

    sx = box.width / size
    sy = box.height / size
    # affine map from crop pixels to image pixels, then inverted by warpAffine.
    # OpenCV samples pixel index centres at integers: image_idx = x_cont - 0.5
    m = np.array([[sx, 0, box.x0 + 0.5 * sx - 0.5], [0, sy, box.y0 + 0.5 * sy - 0.5]], dtype=np.float64)
    interp = cv2.INTER_AREA if sx > 1.5 else cv2.INTER_LINEAR
    if sx > 1.5:  # shrink a lot: pre-blur by resizing the source to avoid aliasing
        factor = 1.0 / sx
        small = cv2.resize(image, (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor))),
                           interpolation=cv2.INTER_AREA)
        fx = small.shape[1] / image.shape[1]
        fy = small.shape[0] / image.shape[0]
        m = np.array([[sx * fx, 0, (box.x0 + 0.5 * sx) * fx - 0.5], [0, sy * fy, (box.y0 + 0.5 * sy) * fy - 0.5]])
        image = small
        interp = cv2.INTER_LINEAR
    return cv2.warpAffine(image, m, (size, size), flags=interp | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


# ----------------------------------------------------------------------------- prediction

PREDICTION_FORMAT = "lmkviz-prediction"
PREDICTION_VERSION = 1
"""The ``"format"`` and ``"version"`` of :meth:`Prediction.to_dict` (the README's
"Prediction JSON" section documents the fields)."""

COORDINATES = "original image pixels; pixel j spans [j, j+1), centre j + 0.5"


@dataclass
class Prediction:
    """What :meth:`Predictor.predict` returns (all coordinates in the pixels of the image
    it was given; :meth:`to_original` maps them to the original file's).

    face: the detected (or given) face box, None when the whole image was used.
    crop: the square region fed to the network. crop_image: that region as the
    network saw it, (S, S, 3) uint8. points: {decoder: (K, 2) float32}, one entry
    per decoder asked for (by default every decoder of the checkpoint's codec).
    heatmaps: (K, h, w) float32 scores in [0, 1] over the crop (sigmoid of logits for
    binary models; for a SimCC model the outer product of its x and y distributions,
    S x S, each map's peak scaled to 1, :meth:`lmkviz.codecs.SimCCCodec.pseudo_heatmaps`).
    vectors: SimCC models only, the two per-axis distributions ``(x (K, W_x), y (K, H_y))``
    float32 (bins of 1 / ratio crop pixels); None for heatmap models. confidence: (K,)
    peak scores. indices: which landmarks of the scheme; names: their names. image_size:
    (H, W) of the image. checkpoint: the checkpoint's file name.
    """

    face: Optional[Box]
    crop: Box
    crop_image: np.ndarray
    points: dict
    heatmaps: np.ndarray
    confidence: np.ndarray
    indices: list
    scheme_name: str
    notes: list = field(default_factory=list)
    names: list = field(default_factory=list)
    image_size: Optional[tuple] = None
    checkpoint: str = ""
    vectors: Optional[tuple] = None

    def crop_points(self, decoder: str) -> np.ndarray:
        """(K, 2) points of ``decoder`` in the pixels of :attr:`crop_image` (the network input)."""
        return self.crop.to_crop(self.points[decoder], self.crop_image.shape[:2])

    def to_original(self, image: LoadedImage) -> "Prediction":
        """This prediction, made on ``image.array``, in the pixels of the original file
        (a new object; ``image.scale`` array pixels per original pixel)."""
        back = 1.0 / float(image.scale)
        return replace(self, points={m: (np.asarray(p, np.float64) * back).astype(np.float32)
                                     for m, p in self.points.items()},
                       crop=self.crop.scaled(back), face=None if self.face is None else self.face.scaled(back),
                       image_size=tuple(int(v) for v in image.original_size),
                       notes=list(image.notes) + [n for n in self.notes if n not in image.notes])

    def to_dict(self, source: Optional[str] = None) -> dict:
        """The prediction as a JSON-able dict, the one schema of the Upload page's download
        and ``lmkviz predict --json`` (version :data:`PREDICTION_VERSION`)::

            {"format": "lmkviz-prediction", "version": 1, "units": "px",
             "coordinates": "original image pixels; ...",
             "image": {"source": "photo.jpg", "width": W, "height": H},
             "checkpoint": "default.pt", "scheme": "ibug68",
             "face": {"x0", "y0", "x1", "y1"} or null, "crop": {"x0", "y0", "x1", "y1"},
             "landmarks": [{"index": 36, "name": "...", "confidence": 0.93}, ...],
             "points": {"dark": [[x, y], ...], ...},     # one [x, y] per landmark, same order
             "notes": [...]}

        Coordinates are those of this object: call :meth:`to_original` first for a
        prediction made on a downscaled copy. NaN (a map without a peak) becomes null.
        """
        h, w = self.image_size if self.image_size is not None else (None, None)
        names = list(self.names) or [str(i) for i in self.indices]
        return {
            "format": PREDICTION_FORMAT, "version": PREDICTION_VERSION, "units": "px", "coordinates": COORDINATES,
            "image": {"source": source, "width": w, "height": h},
            "checkpoint": self.checkpoint, "scheme": self.scheme_name,
            "face": None if self.face is None else self.face.as_dict(),
            "crop": self.crop.as_dict(),
            "landmarks": [{"index": int(i), "name": str(n), "confidence": _json_number(c, 4)}
                          for i, n, c in zip(self.indices, names, np.asarray(self.confidence, dtype=float))],
            "points": {m: [[_json_number(x, 3), _json_number(y, 3)] for x, y in np.asarray(p, dtype=float)]
                       for m, p in self.points.items()},
            "notes": list(self.notes),
        }


def _json_number(value: float, decimals: int) -> Optional[float]:
    value = float(value)
    return round(value, decimals) if np.isfinite(value) else None


def failed_prediction_dict(source: str, error: str) -> dict:
    """The record of an image that could not be read or predicted (same format and version)."""
    return {"format": PREDICTION_FORMAT, "version": PREDICTION_VERSION, "image": {"source": source},
            "error": str(error)}


PREDICTION_COLUMNS = ("decoder", "landmark", "name", "x", "y", "confidence")


def prediction_rows(record: dict) -> list[dict]:
    """One row per (decoder, landmark) of a :meth:`Prediction.to_dict` record, with the
    columns :data:`PREDICTION_COLUMNS` (the CSV download)."""
    rows = []
    for decoder, points in record["points"].items():
        for landmark, (x, y) in zip(record["landmarks"], points):
            rows.append({"decoder": decoder, "landmark": landmark["index"], "name": landmark["name"], "x": x, "y": y,
                         "confidence": landmark["confidence"]})
    return rows


def prediction_csv(record: dict) -> str:
    """:func:`prediction_rows` as CSV text with a header line."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(PREDICTION_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(prediction_rows(record))
    return buffer.getvalue()


class Predictor:
    """A checkpoint loaded once for inference (the app caches one per checkpoint).

    checkpoint: a path or "default" (the shipped checkpoint). device: "cpu"
    (default), "cuda" or "auto". flip_test: also run the mirrored crop and
    average the heatmaps (needs the scheme's flip permutation). threads: CPU
    threads for torch (None leaves torch's setting). channels_last: NHWC memory
    layout; None = on CUDA only (on CPU it measured slower, see
    ``bench/inference.py``).
    """

    def __init__(self, checkpoint: Union[str, os.PathLike] = "default", device: str = "cpu",
                 flip_test: bool = False, threads: Optional[int] = None,
                 channels_last: Optional[bool] = None):
        from lmkviz.devices import resolve_device

        self.device = resolve_device(device)
        if threads:
            torch.set_num_threads(threads)
        self.loaded = ckpt.load_for_inference(checkpoint, self.device)
        self.model = self.loaded.model
        self.channels_last = self.device.type == "cuda" if channels_last is None else bool(channels_last)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.codec = self.loaded.codec
        self.input_size = self.codec.image_size[0]
        from lmkviz.data.schemes import flip_perm_for, scheme_for

        scheme = scheme_for(self.loaded.num_points)
        self.names = [scheme.names[i] for i in self.loaded.indices]
        self.flip_perm = flip_perm_for(scheme, self.loaded.indices) if flip_test else None

    @property
    def num_points(self) -> int:
        return len(self.loaded.indices)

    @property
    def decoders(self) -> tuple:
        """The decoders that apply to this checkpoint's output (its codec's)."""
        return tuple(self.codec.decoders)

    @torch.inference_mode()
    def heatmaps(self, crops: torch.Tensor):
        """(N, 3, S, S) float in [0, 1] -> the raw network output: (N, K, h, w) heatmaps, or a
        SimCC model's ``(x_logits, y_logits)`` (flip-averaged with the flip test; see
        :func:`lmkviz.evaluation.predict_heatmaps`)."""
        return predict_heatmaps(self.model, crops.to(self.device), flip_perm=self.flip_perm,
                                logits=self.codec.outputs_logits, channels_last=self.channels_last)

    def predict_crops(self, crops: np.ndarray, decoders: Optional[Sequence[str]] = None):
        """Batch of already-framed (N, S', S', 3) uint8 crops (any size, resized to the input).

        decoders: None for every decoder of the codec (:attr:`decoders`). Returns
        ({decoder: (N, K, 2) in the crops' pixel coordinates}, the raw output (see
        :meth:`heatmaps`), confidence (N, K)).
        """
        decoders = applicable_decoders(self.codec, decoders)
        import torch.nn.functional as F

        batch = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float().div_(255)
        in_h, in_w = batch.shape[-2:]
        if (in_h, in_w) != self.codec.image_size:
            batch = F.interpolate(batch, size=self.codec.image_size, mode="bilinear", antialias=True,
                                  align_corners=False)
        raw = self.heatmaps(batch)
        points = {}
        confidence = None
        for m in decoders:
            p, conf = self.codec.decode(raw, m, return_confidence=True)
            scale = p.new_tensor([in_w / self.codec.image_size[1], in_h / self.codec.image_size[0]])
            points[m] = (p * scale).cpu().numpy()
            confidence = conf.cpu().numpy()
        return points, raw, confidence

    def predict(self, image: np.ndarray, face: Optional[Box] = None, crop: Optional[Box] = None,
                decoders: Optional[Sequence[str]] = None, detect: bool = True) -> Prediction:
        """Landmarks for the main face of an (H, W, 3) uint8 RGB image.

        face: use this face box instead of detecting one. crop: use this square
        crop directly (e.g. a manual crop from the UI). detect=False uses the whole
        image when no face/crop is given. decoders: None for every decoder of the
        checkpoint's codec; one that does not apply is a ValueError.
        """
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"predict expects an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}; "
                             "use lmkviz.inference.load_image to read files")
        notes: list[str] = []
        h, w = image.shape[:2]
        if crop is None:
            if face is None and detect:
                faces = detect_faces(image)
                if faces:
                    face = faces[0]
                    if len(faces) > 1:
                        notes.append(f"{len(faces)} faces found; using the largest")
                else:
                    notes.append("no face found: using the whole image (crop it to the face for better results)")
            crop = crop_from_face(face) if face is not None else whole_image_crop(image.shape)
        s = self.input_size
        patch = crop_image(image, crop, s)
        points_in, raw, confidence = self.predict_crops(patch[None], decoders)
        points = {m: crop.from_crop(p[0], s).astype(np.float32) for m, p in points_in.items()}
        maps = self.codec.display_maps(raw)[0].clamp(0, 1)
        vectors = None
        if isinstance(raw, tuple):  # SimCC: the two per-axis distributions
            vectors = tuple(v[0].cpu().numpy().astype(np.float32) for v in self.codec.probabilities(raw))
        return Prediction(face=face, crop=crop, crop_image=patch, points=points,
                          heatmaps=maps.cpu().numpy().astype(np.float32), confidence=confidence[0],
                          indices=list(self.loaded.indices), scheme_name=self.loaded.scheme_name, notes=notes,
                          names=list(self.names), image_size=(h, w), checkpoint=self.loaded.path.name,
                          vectors=vectors)


def predict_files(paths: Sequence[Union[str, Path]], predictor: Predictor,
                  decoders: Optional[Sequence[str]] = None):
    """[(path, Prediction | None, error | None, LoadedImage | None)] for image files; every
    prediction in its original file's pixels (:meth:`Prediction.to_original`)."""
    out = []
    for p in paths:
        try:
            loaded = load_image(p, name=str(p))
            pred = predictor.predict(loaded.array, decoders=decoders).to_original(loaded)
            out.append((p, pred, None, loaded))
        except ValueError as err:
            out.append((p, None, str(err), None))
    return out
