"""The live camera's frame processor (lmkviz.live): points on faces, tracking between
detections, frame-rate accounting, drawing in the continuous convention, ICE settings."""

from __future__ import annotations

import itertools
import types

import numpy as np
import pytest
import torch

from lmkviz.data.synthetic import render_face
from lmkviz.inference import Box, Predictor, crop_from_face, crop_from_points, detect_faces
from lmkviz.live import (
    FrameRate,
    LiveProcessor,
    LiveSettings,
    blend_boxes,
    detect_small,
    draw_points,
    iou,
    moving_clip,
    overlay_heatmap,
    parse_ice_servers,
    write_y4m,
)
from lmkviz.viz.style import DECODER_COLOURS


@pytest.fixture(scope="module")
def predictor():
    return Predictor("default")


def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


class StubPredictor:
    """predict_crops without a network: the same points (in crop px) for every crop, and the
    confidence the test sets."""

    input_size = 64
    device = torch.device("cpu")

    def __init__(self, confidence: float = 0.9, k: int = 5, shift=(0.0, 0.0)):
        self.codec = types.SimpleNamespace(outputs_logits=False, decode=self.decode)
        self.confidence = confidence
        self.k = k
        self.shift = shift
        self.calls = 0

    def model(self, batch):
        assert batch.shape == (1, 3, self.input_size, self.input_size)
        self.calls += 1
        raw = torch.zeros(1, self.k, 16, 16)
        raw[0, :, 8, 8] = self.confidence
        return raw

    def decode(self, raw, method, return_confidence=False):
        """Points spanning 1 / 1.7 of the crop (the training framing: the crop around them is
        the crop itself), moved by ``shift`` crop px."""
        half = self.input_size / 1.7 / 2
        centre = self.input_size / 2 + np.asarray(self.shift, np.float32)
        pts = torch.from_numpy(np.linspace(centre - half, centre + half, self.k, dtype=np.float32)[None])
        return pts, torch.full((1, self.k), self.confidence)


class CountingDetector:
    """A face box at a fixed place, or none; counts its calls."""

    def __init__(self, box=Box(100, 100, 200, 200)):
        self.box = box
        self.calls = 0

    def __call__(self, image):
        self.calls += 1
        return [] if self.box is None else [self.box]


def frame(h=480, w=640) -> np.ndarray:
    return np.full((h, w, 3), 90, np.uint8)


# ----------------------------------------------------------------------------- real faces


@pytest.mark.parametrize("seed", [2, 4])
def test_points_land_on_a_synthetic_face(predictor, seed):
    """The shipped model, run by the processor (real detector, DARK): mean error under 8 % of
    the outer-eye-corner distance on synthetic faces whose true landmarks are known."""
    image, truth = render_face(seed, 384)
    result = LiveProcessor(predictor, LiveSettings(channel=30)).process(image)
    assert result.detected and result.face is not None
    assert result.points.shape == (68, 2)
    iod = np.linalg.norm(truth[36] - truth[45])
    assert np.mean(np.linalg.norm(result.points - truth, axis=1)) < 0.08 * iod
    assert result.heatmap is not None and result.heatmap.shape == tuple(predictor.codec.heatmap_size)


def test_points_follow_a_moving_real_face(predictor):
    """Astronaut photo moving in a 640x480 clip, detected once then tracked: on every frame the
    68 points agree with the Upload page's pipeline (detection + crop + predict on that frame)
    to within 4 % of the face's width on average, and they move with the face."""
    clip = moving_clip(astronaut(), frames=8, radius=0.06)
    processor = LiveProcessor(predictor, LiveSettings(detect_every=100))
    results = [processor.process(f) for f in clip]
    assert [r.detected for r in results] == [True] + [False] * 7  # tracked after the first detection
    for f, r in zip(clip, results):
        still = predictor.predict(f, decoders=("dark",))
        assert r.points is not None and np.isfinite(r.points).all()
        gap = np.linalg.norm(r.points - still.points["dark"], axis=1).mean()
        assert gap < 0.04 * still.face.width
    # the clip moves the image on a circle of radius 0.06 * 480 = 28.8 px: frame 2 is a quarter
    # turn on, moved by (cos 90 - cos 0, sin 90 - sin 0) * 28.8 px
    shift = results[2].points.mean(0) - results[0].points.mean(0)
    assert np.allclose(shift, [-28.8, 28.8], atol=5)
    stats = processor.stats()
    assert stats.frames == 8 and stats.detections == 1 and stats.landmarks == 68 and stats.tracking


def test_drawn_points_are_in_the_decoders_colour(predictor):
    image = astronaut()
    result = LiveProcessor(predictor, LiveSettings(decoder="argmax", show_crop=False, show_rate=False)).process(image)
    colour = tuple(int(DECODER_COLOURS["argmax"][i:i + 2], 16) for i in (1, 3, 5))
    px = np.floor(result.points).astype(int)
    drawn = result.image[px[:, 1], px[:, 0]]
    assert (np.abs(drawn.astype(int) - colour).max(axis=1) <= 40).mean() > 0.9
    assert (np.abs(image[px[:, 1], px[:, 0]].astype(int) - colour).max(axis=1) <= 40).mean() < 0.2


# ----------------------------------------------------------------------------- detection and tracking


def test_detection_runs_every_n_frames_while_tracking():
    detector = CountingDetector()
    processor = LiveProcessor(StubPredictor(), LiveSettings(detect_every=5), detector=detector)
    results = [processor.process(frame()) for _ in range(12)]
    assert [r.detected for r in results] == [i % 5 == 0 for i in range(12)]
    assert detector.calls == 3 and processor.stats().detections == 3
    assert all(r.points is not None for r in results)


def test_every_frame_is_detected_with_detect_every_1():
    detector = CountingDetector()
    processor = LiveProcessor(StubPredictor(), LiveSettings(detect_every=1), detector=detector)
    for _ in range(4):
        processor.process(frame())
    assert detector.calls == 4


def test_a_lost_face_is_detected_again_on_the_next_frame():
    predictor = StubPredictor(confidence=0.9)
    detector = CountingDetector()
    processor = LiveProcessor(predictor, LiveSettings(detect_every=10, min_confidence=0.5), detector=detector)
    processor.process(frame())
    processor.process(frame())
    assert detector.calls == 1
    predictor.confidence = 0.1  # the network no longer sees a face
    lost = processor.process(frame())
    assert lost.points is None and not processor.stats().tracking
    predictor.confidence = 0.9
    again = processor.process(frame())
    assert again.detected and detector.calls == 2 and again.points is not None


def test_no_face_means_no_network_run_and_a_detection_per_frame():
    predictor = StubPredictor()
    detector = CountingDetector(box=None)
    processor = LiveProcessor(predictor, LiveSettings(detect_every=10), detector=detector)
    results = [processor.process(frame()) for _ in range(3)]
    assert predictor.calls == 0 and detector.calls == 3
    assert all(r.points is None and r.crop is None for r in results)
    assert processor.stats().landmarks == 0


def test_the_tracked_crop_follows_the_points():
    """Between detections the crop is the training framing around the last points: with the
    points 8 crop px right of the centre, each tracked crop moves right by 8 / 64 of its side
    (smoothing 0), or by half of that with smoothing 0.5."""
    for smoothing, moved in ((0.0, 1.0), (0.5, 0.5)):
        processor = LiveProcessor(StubPredictor(shift=(8.0, 0.0)), LiveSettings(detect_every=50, smoothing=smoothing),
                                  detector=CountingDetector(Box(100, 100, 200, 200)))
        first = processor.process(frame())
        second = processor.process(frame())
        assert not second.detected
        assert second.crop.centre[0] - first.crop.centre[0] == pytest.approx(moved * first.crop.width / 8, rel=1e-4)
        assert second.crop.centre[1] == pytest.approx(first.crop.centre[1])
        assert second.crop.width == pytest.approx(first.crop.width, rel=1e-4)
        if smoothing == 0.0:
            assert np.allclose(second.crop.as_list(), crop_from_points(first.points).as_list(), atol=1e-4)


def test_a_detection_elsewhere_replaces_the_track_and_one_nearby_keeps_it():
    detector = CountingDetector(Box(100, 100, 200, 200))
    processor = LiveProcessor(StubPredictor(shift=(2.0, 0.0)),
                              LiveSettings(detect_every=2, smoothing=0.0, detect_side=640), detector=detector)
    processor.process(frame())  # frame 0: detected
    tracked = processor.process(frame())  # frame 1: tracked
    assert not tracked.detected
    kept = processor.process(frame())  # frame 2: the detector finds the same face: the track goes on
    assert kept.detected and kept.crop.centre[0] > tracked.crop.centre[0]
    assert kept.crop.centre[0] - tracked.crop.centre[0] == pytest.approx(tracked.crop.width * 2 / 64, rel=1e-3)
    far = Box(400, 250, 500, 350)
    detector.box = far
    processor.process(frame())  # frame 3: tracked
    moved = processor.process(frame())  # frame 4: a face far away replaces the track
    assert moved.detected and np.allclose(moved.crop.as_list(), crop_from_face(far).as_list())


def test_detect_small_maps_boxes_back_to_the_frame():
    seen = []

    def detector(image):
        seen.append(image.shape)
        return [Box(10, 20, 30, 40)]

    boxes = detect_small(frame(480, 640), 320, detector)
    assert seen == [(240, 320, 3)]
    assert np.allclose(boxes[0].as_list(), [20, 40, 60, 80])


def test_box_helpers():
    a, b = Box(0, 0, 10, 10), Box(5, 0, 15, 10)
    assert iou(a, b) == pytest.approx(50 / 150)
    assert iou(a, Box(20, 20, 30, 30)) == 0
    mid = blend_boxes(a, Box.square(15, 5, 20), 0.5)
    assert mid.centre == pytest.approx((10, 5)) and mid.width == pytest.approx(15)


# ----------------------------------------------------------------------------- frame rate


def test_frame_rate_over_a_sliding_window():
    rate = FrameRate(window=5)
    assert rate.rate == 0.0 and rate.busy_ms == 0.0
    for t in np.arange(10) * 0.1:  # 10 frames/s
        rate.tick(t, busy=0.02)
    assert rate.rate == pytest.approx(10.0)
    assert rate.busy_ms == pytest.approx(20.0) and rate.count == 10
    for t in 0.9 + np.arange(1, 5) * 0.05:  # then 20 frames/s: the window forgets the old frames
        rate.tick(t, busy=0.01)
    assert rate.rate == pytest.approx(20.0)
    assert rate.busy_ms == pytest.approx((0.02 + 4 * 0.01) / 5 * 1000)


def test_the_processor_counts_frames_with_its_clock():
    ticks = itertools.count(0.0, 0.05)  # every call of the clock advances 50 ms
    processor = LiveProcessor(StubPredictor(), detector=CountingDetector(), clock=lambda: next(ticks))
    for _ in range(6):
        processor.process(frame())
    stats = processor.stats()
    # two clock calls per frame (start, end): frames start 100 ms apart, each is busy 50 ms
    assert stats.frames == 6 and stats.rate == pytest.approx(10.0) and stats.busy_ms == pytest.approx(50.0)
    processor.reset()
    assert processor.stats().frames == 0 and not processor.stats().tracking


# ----------------------------------------------------------------------------- drawing


def test_heatmap_cells_cover_their_share_of_the_crop():
    """A 4x4 map with one hot cell (row 1, column 2) over the box [10, 50) x [20, 60): that
    cell covers x in [30, 40), y in [30, 40); the blend is strongest around its centre (35, 35)
    and symmetric about it."""
    heatmap = np.zeros((4, 4), np.float32)
    heatmap[1, 2] = 1.0
    image = np.zeros((80, 80, 3), np.uint8)
    overlay_heatmap(image, heatmap, Box(10, 20, 50, 60), opacity=1.0)
    strength = image.astype(int).sum(axis=2)
    ys, xs = np.nonzero(strength == strength.max())
    assert np.allclose([xs.mean() + 0.5, ys.mean() + 0.5], [35, 35], atol=0.51)
    assert np.array_equal(strength[35, 30:35], strength[35, 35:40][::-1])
    assert strength[:, :10].max() == 0 and strength[:20].max() == 0  # nothing outside the box


def test_heatmap_partly_outside_the_frame_is_clipped():
    image = np.zeros((40, 40, 3), np.uint8)
    overlay_heatmap(image, np.ones((8, 8), np.float32), Box(-20, -20, 20, 20), opacity=1.0)
    assert image[:20, :20].min() > 0 and image[20:, :].max() == 0 and image[:, 20:].max() == 0


def test_a_point_is_drawn_on_the_pixel_that_contains_it():
    image = np.zeros((20, 20, 3), np.uint8)
    draw_points(image, np.array([[7.5, 12.5], [np.nan, 3.0]]), (255, 0, 0), radius=1.0)
    assert tuple(image[12, 7]) == (255, 0, 0)
    ys, xs = np.nonzero(image[..., 0] == 255)
    assert xs.mean() == pytest.approx(7, abs=0.01) and ys.mean() == pytest.approx(12, abs=0.01)


# ----------------------------------------------------------------------------- settings, clips


def test_settings_are_checked():
    with pytest.raises(ValueError, match="decoder"):
        LiveSettings(decoder="median")
    with pytest.raises(ValueError, match="detect_every"):
        LiveSettings(detect_every=0)
    with pytest.raises(ValueError, match="opacity"):
        LiveSettings(opacity=2)
    with pytest.raises(ValueError, match="uint8"):
        LiveProcessor(StubPredictor()).process(np.zeros((10, 10), np.uint8))


def test_ice_servers_default_to_none():
    assert parse_ice_servers(None) == [] and parse_ice_servers("  ") == []
    assert parse_ice_servers("stun:a.example:3478, turn:b.example") == [
        {"urls": "stun:a.example:3478"}, {"urls": "turn:b.example"}]
    assert parse_ice_servers('[{"urls": ["turn:t.example"], "username": "u", "credential": "p"}]')[0]["username"] == "u"
    with pytest.raises(ValueError, match="must start with"):
        parse_ice_servers("http://stun.example")
    with pytest.raises(ValueError, match="JSON"):
        parse_ice_servers("[{bad")


def test_clip_and_y4m(tmp_path):
    clip = moving_clip(np.full((100, 80, 3), 200, np.uint8), frames=4, size=(60, 80))
    assert clip.shape == (4, 60, 80, 3)
    assert not np.array_equal(clip[0], clip[1])  # it moves
    path = tmp_path / "clip.y4m"
    write_y4m(path, clip, fps=15)
    data = path.read_bytes()
    header, _, rest = data.partition(b"\n")
    assert header.startswith(b"YUV4MPEG2 W80 H60 F15:1")
    assert len(rest) == 4 * (len(b"FRAME\n") + 80 * 60 * 3 // 2)


def test_the_traced_network_gives_the_same_points(predictor):
    from lmkviz.live import trace_network

    traced = trace_network(predictor)
    assert traced is not None
    image = astronaut()
    plain = LiveProcessor(predictor, LiveSettings(channel=30)).process(image)
    fast = LiveProcessor(predictor, LiveSettings(channel=30), network=traced, threads=1).process(image)
    assert np.allclose(fast.points, plain.points, atol=1e-3)
    assert np.allclose(fast.heatmap, plain.heatmap, atol=1e-4)
