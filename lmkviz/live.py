"""Live landmarks on a video stream: one frame in, the same frame annotated out.

    processor = LiveProcessor(Predictor("default"), LiveSettings(channel=30))
    out = processor(frame)               # (H, W, 3) uint8 RGB in, annotated copy out
    processor.stats()                    # frames, detections, frames/s, ms per frame, last points

Per frame (:meth:`LiveProcessor.process`):

1. **Where is the face?** OpenCV's face detector (:func:`lmkviz.inference.detect_faces`,
   run on a copy at most :attr:`LiveSettings.detect_side` px long) runs on the first frame,
   then only every :attr:`LiveSettings.detect_every` frames and whenever the face was lost.
   In between the crop is *tracked*: the square around the previous frame's landmarks
   (:func:`lmkviz.inference.crop_from_points`, the training data's framing), smoothed.
   A detection that agrees with the tracked crop leaves it alone; one elsewhere (a new
   face, or a track that drifted off) replaces it.
2. **Landmarks**: the crop goes through the network once (no flip test) and one decoder
   (:attr:`LiveSettings.decoder`) turns the heatmaps into points, mapped back to the frame.
   A mean peak below :attr:`LiveSettings.min_confidence` means the face is lost: the next
   frame is detected again.
3. **Drawing**: the chosen channel's heatmap blended over the crop (cell (i, j) of an
   (h, w) map covers ``crop.x0 + [j, j + 1) * crop.width / w``, likewise in y: the pure
   scale of the continuous convention), the crop square, one dot per landmark centred on
   its continuous position (pixel j spans [j, j + 1), centre j + 0.5), and the frame rate.

Everything is plain numpy/OpenCV on (H, W, 3) uint8 RGB frames; the Streamlit and WebRTC
glue converts video frames to and from these. :class:`FrameRate` counts frames per second
over a sliding window of arrival times (an injectable clock makes it testable).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from lmkviz.decoding import DECODERS
from lmkviz.inference import Box, crop_from_face, crop_from_points, crop_image, detect_faces

# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class LiveSettings:
    """What the live processor does with each frame.

    decoder: the decoder whose points are drawn (one of :data:`lmkviz.decoding.DECODERS`).
    channel: index (into the model's landmarks) of the heatmap drawn over the crop; None
    draws no heatmap. opacity: of that heatmap, in [0, 1]. detect_every: run the face
    detector every this many frames (>= 1; 1 = every frame, no tracking). detect_side:
    the detector sees the frame downscaled to at most this many px on its longer side.
    min_confidence: mean peak score under which the face counts as lost. smoothing: how
    much of the previous crop the tracked crop keeps, in [0, 1) (0 = follow the points
    at once). show_crop / show_rate: draw the crop square / the frame rate.
    """

    decoder: str = "dark"
    channel: Optional[int] = None
    opacity: float = 0.6
    detect_every: int = 15
    detect_side: int = 320
    min_confidence: float = 0.2
    smoothing: float = 0.3
    show_crop: bool = True
    show_rate: bool = True

    def __post_init__(self):
        if self.decoder not in DECODERS:
            raise ValueError(f"LiveSettings.decoder must be one of {', '.join(DECODERS)}, got {self.decoder!r}")
        if self.channel is not None and (not isinstance(self.channel, (int, np.integer)) or self.channel < 0):
            raise ValueError(f"LiveSettings.channel must be a landmark index >= 0 or None, got {self.channel!r}")
        if not 0.0 <= float(self.opacity) <= 1.0:
            raise ValueError(f"LiveSettings.opacity must be in [0, 1], got {self.opacity}")
        if int(self.detect_every) < 1:
            raise ValueError(f"LiveSettings.detect_every must be at least 1 (1 = detect on every frame), "
                             f"got {self.detect_every}")
        if int(self.detect_side) < 64:
            raise ValueError(f"LiveSettings.detect_side must be at least 64 px, got {self.detect_side}")
        if not 0.0 <= float(self.smoothing) < 1.0:
            raise ValueError(f"LiveSettings.smoothing must be in [0, 1), got {self.smoothing}")


# ----------------------------------------------------------------------------- frame rate


class FrameRate:
    """Frames per second over the last ``window`` frames, and the mean time spent on them.

    :meth:`tick` records a frame's arrival time (seconds, any monotonic clock) and,
    optionally, how long processing it took. :attr:`rate` is (n - 1) / (t_last - t_first)
    over the n arrival times in the window: the rate frames actually went through, which
    is the camera's rate when processing keeps up and lower when frames are dropped.
    :attr:`busy_ms` is the mean processing time; 1000 / busy_ms is the rate the processing
    alone would allow.
    """

    def __init__(self, window: int = 30):
        if int(window) < 2:
            raise ValueError(f"FrameRate needs a window of at least 2 frames, got {window}")
        self._times: deque = deque(maxlen=int(window))
        self._busy: deque = deque(maxlen=int(window))
        self.count = 0

    def tick(self, now: float, busy: Optional[float] = None) -> None:
        self._times.append(float(now))
        if busy is not None:
            self._busy.append(float(busy))
        self.count += 1

    @property
    def rate(self) -> float:
        """Frames per second over the window (0 with fewer than two frames)."""
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0

    @property
    def busy_ms(self) -> float:
        """Mean processing time per frame over the window, in ms (0 before any)."""
        return 1000.0 * sum(self._busy) / len(self._busy) if self._busy else 0.0


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class LiveFrame:
    """One processed frame.

    image: the annotated (H, W, 3) uint8 RGB copy. points: (K, 2) float32 landmarks in
    frame px (continuous convention), None without a face. confidence: (K,) peak scores.
    crop: the square fed to the network, None without a face. face: the detector's box
    when it ran on this frame and found one. detected: whether the detector ran on this
    frame. heatmap: the drawn channel's (h, w) map in [0, 1], or None.
    """

    image: np.ndarray
    points: Optional[np.ndarray]
    confidence: Optional[np.ndarray]
    crop: Optional[Box]
    face: Optional[Box]
    detected: bool
    heatmap: Optional[np.ndarray] = None


@dataclass(frozen=True)
class LiveStats:
    """A snapshot of the processor's counters, safe to read from another thread.

    frames: frames processed since the start (or :meth:`LiveProcessor.reset`); detections:
    how many of them ran the face detector; rate: frames/s over the last window; busy_ms:
    mean processing time per frame over that window; tracking: a face is being followed;
    points: the last frame's (K, 2) landmarks in frame px (None without a face);
    frame_size: (H, W) of the last frame.
    """

    frames: int = 0
    detections: int = 0
    rate: float = 0.0
    busy_ms: float = 0.0
    tracking: bool = False
    points: Optional[np.ndarray] = None
    frame_size: Optional[tuple] = None

    @property
    def landmarks(self) -> int:
        """How many landmarks were drawn on the last frame."""
        return 0 if self.points is None else int(np.isfinite(self.points).all(axis=1).sum())


def default_channel(names: Sequence[str]) -> int:
    """The heatmap to show first: the nose tip's (a landmark in the middle of the face, easy
    to follow), else the middle landmark of ``names`` (the model's landmark names)."""
    for k, name in enumerate(names):
        if str(name).lower() == "nose tip":
            return k
    return len(names) // 2


# ----------------------------------------------------------------------------- the processor


class LiveProcessor:
    """Turns video frames into annotated frames with a :class:`lmkviz.inference.Predictor`.

    Call it (or :meth:`process`) from one thread, the video thread; :attr:`settings` may be
    replaced and :meth:`stats` read from another (the page). ``clock`` (seconds) and
    ``detector`` ((H, W, 3) uint8 -> list of :class:`Box`, largest first) can be swapped,
    e.g. in tests. ``threads``: torch CPU threads while a frame is processed (set and
    restored around each frame); None leaves torch's setting (``bench/live_camera.py``
    compares them). ``network``:
    the module run on the (1, 3, S, S) crop instead of ``predictor.model``, e.g.
    :func:`trace_network`'s.
    """

    def __init__(self, predictor, settings: Optional[LiveSettings] = None, *,
                 clock: Callable[[], float] = time.perf_counter,
                 detector: Callable[[np.ndarray], Sequence[Box]] = detect_faces, window: int = 30,
                 threads: Optional[int] = None, network: Optional[Callable] = None):
        self.predictor = predictor
        self.threads = threads
        self.network = network
        self.settings = settings if settings is not None else LiveSettings()
        self._clock = clock
        self._detector = detector
        self._window = int(window)
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget the tracked face and zero the counters."""
        with self._lock:
            self._crop: Optional[Box] = None
            self._index = 0
            self._detections = 0
            self._rate = FrameRate(self._window)
            self._points: Optional[np.ndarray] = None
            self._frame_size: Optional[tuple] = None
            self.error: Optional[str] = None
            """The last error of a frame, for the video glue to record and the page to show."""

    # -- reading from another thread

    def stats(self) -> LiveStats:
        with self._lock:
            return LiveStats(frames=self._rate.count, detections=self._detections, rate=self._rate.rate,
                             busy_ms=self._rate.busy_ms, tracking=self._crop is not None,
                             points=None if self._points is None else self._points.copy(),
                             frame_size=self._frame_size)

    # -- per frame

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        return self.process(frame).image

    def process(self, frame: np.ndarray) -> LiveFrame:
        """Landmarks of the face in an (H, W, 3) uint8 RGB frame, drawn on a copy of it."""
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"LiveProcessor expects (H, W, 3) uint8 RGB frames, got {frame.shape} {frame.dtype}")
        start = self._clock()
        settings = self.settings  # one consistent set for this frame, whatever the page does meanwhile
        face, detected = self._locate(frame, settings)
        points = confidence = heatmap = None
        crop = self._crop
        if crop is not None:
            points, confidence, heatmap = self._predict(frame, crop, settings)
            if not np.isfinite(confidence).any() or float(np.nanmean(confidence)) < settings.min_confidence:
                self._crop = None  # lost: detect again on the next frame
                points = confidence = heatmap = None
            else:
                self._crop = self._follow(crop, points, settings.smoothing)
        image = annotate(frame, points, crop if points is not None else None, heatmap, settings,
                         rate=self._rate.rate)
        self._index += 1
        with self._lock:
            self._rate.tick(start, self._clock() - start)
            self._points = None if points is None else points.copy()
            self._frame_size = tuple(frame.shape[:2])
            self._detections += int(detected)
        return LiveFrame(image=image, points=points, confidence=confidence, crop=crop if points is not None else None,
                         face=face, detected=detected, heatmap=heatmap)

    def _locate(self, frame: np.ndarray, settings: LiveSettings) -> tuple[Optional[Box], bool]:
        """Run the detector when due; update the tracked crop. Returns (face found, detector ran)."""
        due = self._crop is None or self._index % int(settings.detect_every) == 0
        if not due:
            return None, False
        faces = detect_small(frame, settings.detect_side, self._detector)
        face = faces[0] if faces else None
        if face is not None:
            fresh = crop_from_face(face)
            if self._crop is None or iou(fresh, self._crop) < 0.3:
                self._crop = fresh
        return face, True

    def _predict(self, frame: np.ndarray, crop: Box, settings: LiveSettings):
        if not self.threads:
            return self._run_network(frame, crop, settings)
        previous = torch.get_num_threads()
        torch.set_num_threads(int(self.threads))
        try:
            return self._run_network(frame, crop, settings)
        finally:
            torch.set_num_threads(previous)

    @torch.inference_mode()
    def _run_network(self, frame: np.ndarray, crop: Box, settings: LiveSettings):
        predictor = self.predictor
        size = predictor.input_size
        patch = crop_image(frame, crop, size)  # (S, S, 3) at the network's input size
        batch = torch.from_numpy(patch).permute(2, 0, 1)[None].float().div_(255).to(predictor.device)
        network = self.network if self.network is not None else predictor.model
        raw = network(batch).float()  # (1, K, h, w), logits for binary codecs
        points_in, confidence = predictor.codec.decode(raw, settings.decoder, return_confidence=True)
        points = crop.from_crop(points_in[0].cpu().numpy(), size).astype(np.float32)  # input px -> frame px
        heatmap = None
        if settings.channel is not None and settings.channel < raw.shape[1]:
            channel = raw[0, settings.channel]
            channel = torch.sigmoid(channel) if predictor.codec.outputs_logits else channel.clamp(0, 1)
            heatmap = channel.float().cpu().numpy()
        return points, confidence[0].cpu().numpy().astype(np.float32), heatmap

    @staticmethod
    def _follow(previous: Box, points: np.ndarray, smoothing: float) -> Optional[Box]:
        finite = np.isfinite(points).all(axis=1)
        if finite.sum() < 2:
            return None
        target = crop_from_points(points[finite])
        if target.width <= 1:
            return None
        return blend_boxes(previous, target, smoothing)


def trace_network(predictor) -> Optional[Callable]:
    """``predictor.model`` traced and frozen by TorchScript for the live camera, or None when
    tracing fails or changes the output (then the model runs as it is).

    The traced network runs as one call that releases Python's global lock for the whole
    pass; the plain module takes the lock back after every layer. In the app the video
    thread shares the lock with the WebRTC event loop and the page's scripts, and each
    handover can wait milliseconds on a busy machine: one pass holds about 300 of them.
    """
    import warnings

    model = predictor.model.eval()
    size = predictor.input_size
    example = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0)).to(predictor.device)
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # TorchScript's deprecation notices
            traced = torch.jit.freeze(torch.jit.trace(model, example, check_trace=False))
            same = torch.allclose(traced(example).float(), model(example).float(), rtol=1e-4, atol=1e-4)
    except (RuntimeError, TypeError, ValueError):
        return None
    return traced if same else None


# ----------------------------------------------------------------------------- geometry helpers


def detect_small(frame: np.ndarray, side: int, detector: Callable[[np.ndarray], Sequence[Box]] = detect_faces) -> list:
    """Faces of ``frame`` found on a copy at most ``side`` px long, as boxes in ``frame``'s px."""
    import cv2

    h, w = frame.shape[:2]
    factor = min(1.0, float(side) / max(h, w))
    if factor >= 1.0:
        return list(detector(frame))
    small = cv2.resize(frame, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
    fx, fy = small.shape[1] / w, small.shape[0] / h
    return [Box(b.x0 / fx, b.y0 / fy, b.x1 / fx, b.y1 / fy) for b in detector(small)]


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when they do not overlap)."""
    ix = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    inter = ix * iy
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0


def blend_boxes(previous: Box, target: Box, keep: float) -> Box:
    """The square whose centre and side are ``keep`` of ``previous``'s and the rest of ``target``'s."""
    (pcx, pcy), (tcx, tcy) = previous.centre, target.centre
    mix = lambda a, b: keep * a + (1.0 - keep) * b  # noqa: E731
    return Box.square(mix(pcx, tcx), mix(pcy, tcy), mix(previous.width, target.width))


# ----------------------------------------------------------------------------- drawing

_LUT: Optional[np.ndarray] = None


def _viridis() -> np.ndarray:
    """(256, 3) float32 Viridis, the app's heatmap colour scale."""
    global _LUT
    if _LUT is None:
        from lmkviz.viz.images import colourise

        _LUT = colourise(np.linspace(0.0, 1.0, 256, dtype=np.float32)[None], 1.0)[0].astype(np.float32)
    return _LUT


def hex_rgb(colour: str) -> tuple[int, int, int]:
    value = colour.lstrip("#")
    return tuple(int(value[i:i + 2], 16) for i in (0, 2, 4))


def overlay_heatmap(image: np.ndarray, heatmap: np.ndarray, box: Box, opacity: float = 0.6) -> np.ndarray:
    """Blend an (h, w) heatmap with scores in [0, 1] over the part of ``image`` that ``box``
    covers, in place, and return ``image``.

    Cell (i, j) covers image x in ``box.x0 + [j, j + 1) * box.width / w`` (likewise y): a
    pure scale in the continuous convention. Viridis colours; the alpha grows with the
    score (transparent at 0, ``opacity`` from 0.5 up), so the face shows through.
    """
    import cv2

    h_img, w_img = image.shape[:2]
    x0, y0 = max(0, math.floor(box.x0)), max(0, math.floor(box.y0))
    x1, y1 = min(w_img, math.ceil(box.x1)), min(h_img, math.ceil(box.y1))
    if x1 <= x0 or y1 <= y0 or opacity <= 0:
        return image
    hh, ww = heatmap.shape
    sx, sy = box.width / ww, box.height / hh
    # image pixel index u (centre u + 0.5) samples the map at continuous (u + 0.5 - box.x0) / sx,
    # i.e. map index (u + 0.5 - box.x0) / sx - 0.5 (OpenCV samples index centres at integers)
    m = np.array([[1 / sx, 0, (x0 + 0.5 - box.x0) / sx - 0.5],
                  [0, 1 / sy, (y0 + 0.5 - box.y0) / sy - 0.5]], dtype=np.float64)
    values = cv2.warpAffine(np.nan_to_num(np.asarray(heatmap, dtype=np.float32)), m, (x1 - x0, y1 - y0),
                            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                            borderValue=0.0)
    values = np.clip(values, 0.0, 1.0)
    colours = _viridis()[(values * 255.0 + 0.5).astype(np.uint8)]
    alpha = (float(opacity) * np.clip(values * 2.0, 0.0, 1.0) ** 0.8)[..., None]
    roi = image[y0:y1, x0:x1]
    roi[:] = (roi * (1.0 - alpha) + colours * alpha + 0.5).astype(np.uint8)
    return image


_SHIFT = 4  # OpenCV sub-pixel drawing: coordinates in 1/16 px


def _fixed(x: float, y: float) -> tuple[int, int]:
    """Continuous (x, y) -> OpenCV's fixed-point pixel-index coordinates (index = x - 0.5)."""
    return int(round((x - 0.5) * (1 << _SHIFT))), int(round((y - 0.5) * (1 << _SHIFT)))


def draw_points(image: np.ndarray, points: np.ndarray, colour: tuple[int, int, int], radius: float,
                highlight: Optional[int] = None) -> np.ndarray:
    """Filled dots (with a dark rim) centred on each finite (x, y) of ``points`` (K, 2), in
    place; the ``highlight`` landmark also gets a white ring. Returns ``image``."""
    import cv2

    r = max(1, int(round(radius * (1 << _SHIFT))))
    rim = (20, 20, 20)
    pts = np.asarray(points, dtype=np.float64)
    shown = [k for k in range(len(pts)) if np.isfinite(pts[k]).all()]
    centres = {k: _fixed(*pts[k]) for k in shown}
    if highlight in centres:
        cv2.circle(image, centres[highlight], 3 * r, (255, 255, 255), 2, cv2.LINE_AA, _SHIFT)
    for k in shown:  # all rims first, so that no rim covers a neighbour's dot
        cv2.circle(image, centres[k], r + (1 << _SHIFT), rim, -1, cv2.LINE_AA, _SHIFT)
    for k in shown:
        cv2.circle(image, centres[k], r, colour, -1, cv2.LINE_AA, _SHIFT)
    return image


def draw_box(image: np.ndarray, box: Box, colour: tuple[int, int, int], thickness: int = 2) -> np.ndarray:
    import cv2

    cv2.rectangle(image, _fixed(box.x0 + 0.5, box.y0 + 0.5), _fixed(box.x1 - 0.5, box.y1 - 0.5), colour, thickness,
                  cv2.LINE_AA, _SHIFT)
    return image


def draw_label(image: np.ndarray, text: str, corner: tuple[int, int] = (8, 8)) -> np.ndarray:
    """White text on a dark band at ``corner`` (top-left, px), in place."""
    import cv2

    scale = max(0.45, min(image.shape[:2]) / 800)
    thickness = 1 if scale < 0.8 else 2
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    x, y = corner
    cv2.rectangle(image, (x, y), (x + tw + 10, y + th + base + 8), (0, 0, 0), -1)
    cv2.putText(image, text, (x + 5, y + th + 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness,
                cv2.LINE_AA)
    return image


def annotate(frame: np.ndarray, points: Optional[np.ndarray], crop: Optional[Box], heatmap: Optional[np.ndarray],
             settings: LiveSettings, rate: Optional[float] = None) -> np.ndarray:
    """A copy of ``frame`` with the heatmap over ``crop``, the crop square, the points in the
    decoder's colour and (with ``settings.show_rate``) the frame rate or "no face"."""
    from lmkviz.viz.style import DECODER_COLOURS
    from lmkviz.viz.upload import CROP_COLOUR

    image = np.array(frame, dtype=np.uint8, copy=True)
    h, w = image.shape[:2]
    if crop is not None and heatmap is not None:
        overlay_heatmap(image, heatmap, crop, settings.opacity)
    if crop is not None and settings.show_crop:
        draw_box(image, crop, hex_rgb(CROP_COLOUR), max(1, round(min(h, w) / 240)))
    if points is not None:
        radius = min(5.0, max(1.5, crop.width / 100)) if crop is not None else 2.0
        draw_points(image, points, hex_rgb(DECODER_COLOURS[settings.decoder]), radius, highlight=settings.channel)
    if settings.show_rate:
        text = f"{rate:.1f} frames/s" if rate else "starting"
        draw_label(image, text if points is not None else f"{text} - no face found")
    return image


# ----------------------------------------------------------------------------- WebRTC settings

ICE_PREFIXES = ("stun:", "stuns:", "turn:", "turns:")


def parse_ice_servers(text: Optional[str]) -> list[dict]:
    """ICE servers for WebRTC from a setting (e.g. the ``LMKVIZ_ICE_SERVERS`` environment variable).

    Empty or None: no servers at all, which is what a browser and a server on the same
    machine (localhost) or network need, and nothing is contacted on the internet.
    Otherwise either URLs separated by commas or spaces (``stun:stun.example.org:3478``)
    or a JSON list of ``{"urls": ..., "username": ..., "credential": ...}`` objects (the
    browser's RTCIceServer). Returns a list of such dicts; raises ValueError on anything else.
    """
    text = (text or "").strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            servers = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"the ICE servers setting is not valid JSON ({err}); give a JSON list such as "
                             '[{"urls": "turn:turn.example.org:3478", "username": "u", "credential": "p"}] '
                             "or URLs separated by commas") from None
        if not isinstance(servers, list) or not all(isinstance(s, dict) and "urls" in s for s in servers):
            raise ValueError("the ICE servers setting must be a JSON list of objects, each with a \"urls\" field")
    else:
        servers = [{"urls": url} for url in text.replace(",", " ").split()]
    for server in servers:
        urls = [server["urls"]] if isinstance(server["urls"], str) else server["urls"]
        bad = [u for u in urls if not (isinstance(u, str) and u.lower().startswith(ICE_PREFIXES))]
        if bad or not urls:
            raise ValueError(f"ICE server URL {bad[0] if bad else urls!r} must start with one of "
                             f"{', '.join(ICE_PREFIXES)} (e.g. stun:stun.example.org:3478)")
    return servers


# ----------------------------------------------------------------------------- test clips


def moving_clip(image: np.ndarray, frames: int = 30, size: tuple[int, int] = (480, 640), fill: float = 0.9,
                radius: float = 0.05) -> np.ndarray:
    """A short clip of ``image`` moving on a grey background: (frames, H, W, 3) uint8 RGB.

    The image is scaled to ``fill`` of the frame's height and its centre goes once around
    a circle of ``radius`` x the frame's height, so that tracking has something to follow
    (for benchmarks and a fake camera; ``size`` is (H, W)).
    """
    import cv2

    h, w = size
    ih, iw = image.shape[:2]
    scale = fill * h / ih
    out = np.full((int(frames), h, w, 3), 64, dtype=np.uint8)
    for i in range(int(frames)):
        angle = 2 * math.pi * i / max(1, int(frames))
        cx = w / 2 + radius * h * math.cos(angle)
        cy = h / 2 + radius * h * math.sin(angle)
        # image continuous (u, v) -> frame (scale * u + tx, scale * v + ty); in index terms for OpenCV
        tx, ty = cx - scale * iw / 2, cy - scale * ih / 2
        m = np.array([[scale, 0, tx + 0.5 * scale - 0.5], [0, scale, ty + 0.5 * scale - 0.5]])
        out[i] = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=(64, 64, 64))
    return out


def write_y4m(path, frames: np.ndarray, fps: int = 30) -> None:
    """Write (N, H, W, 3) uint8 RGB frames (even H and W) as a YUV4MPEG2 4:2:0 video, the
    format Chromium's ``--use-file-for-fake-video-capture`` plays (in a loop) as a camera."""
    import cv2

    frames = np.asarray(frames, dtype=np.uint8)
    n, h, w = frames.shape[:3]
    if h % 2 or w % 2:
        raise ValueError(f"Y4M 4:2:0 needs an even frame size, got {w}x{h}")
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{int(fps)}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for frame in frames:
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
