"""lmkviz's shipped model next to dlib's 68-point shape predictor, on the same faces.

    pip install dlib-bin face-recognition-models      # optional: dlib and its model file
    LMKVIZ_DATA=../shared/datasets python bench/anchors.py
    python bench/anchors.py --checkpoint runs/RUN/best.pt --splits val --limit 50

For each split of ``--data`` (default ``face68``; its images are square face crops of
1.7 x the landmark box) and each method it prints NME (% of the inter-ocular
distance, outer eye corners), FR@10 and AUC@10, and the median milliseconds per face,
in two settings:

* **ground-truth crops**: lmkviz reads the dataset image whole (what ``lmkviz
  evaluate`` does); dlib gets the face rectangle its detector would draw around the
  true landmarks (the median detector box of ``--calibrate`` training faces, relative
  to their landmark box, placed on each face's landmark box).
* **detector crops**: each tool finds the face itself, as on a user's photo: lmkviz
  with OpenCV's Haar cascade (the Upload page's pipeline), dlib with its HOG
  detector. When a detector finds nothing, the face is assumed where the dataset
  puts it (the centre, 1 / 1.7 of the side) and the miss is counted.

Times: "landmarks" is the landmark stage alone given the face (lmkviz: crop, network,
decoding; dlib: the shape predictor), "end to end" adds the face detector, both
measured per face in this process on 2 CPU threads. lmkviz decodes with its default
decoder (the checkpoint's primary decoder) unless ``--decoder`` says otherwise.

dlib's shape predictor was trained on iBUG 300-W, which contains the HELEN training
images and the AFW images that face68 is cut from: on face68 the comparison flatters
dlib. Without dlib installed the dlib rows are left out and the install line printed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lmkviz import metrics  # noqa: E402
from lmkviz.data import open_split  # noqa: E402
from lmkviz.data.schemes import IBUG68  # noqa: E402
from lmkviz.evaluation import primary_decoder  # noqa: E402
from lmkviz.inference import Box, Predictor, detect_faces  # noqa: E402

DLIB_INSTALL = "pip install dlib-bin face-recognition-models"
MARGIN = 1.7  # face68: crop side / landmark box side


def dlib_tools():
    """(frontal face detector, 68-point shape predictor) or None when dlib is not installed."""
    try:
        import dlib
    except ImportError:
        return None
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    model = Path(list(spec.submodule_search_locations)[0]) / "models" / "shape_predictor_68_face_landmarks.dat"
    if not model.is_file():
        return None
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(model))


def landmark_box(points: np.ndarray) -> Box:
    lo, hi = points.min(0), points.max(0)
    return Box(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))


def assumed_face(image: np.ndarray) -> Box:
    """Where a face68 crop has its landmark box: centred, 1 / MARGIN of the side."""
    h, w = image.shape[:2]
    side = min(h, w) / MARGIN
    return Box(w / 2 - side / 2, h / 2 - side / 2, w / 2 + side / 2, h / 2 + side / 2)


@dataclass
class BoxRule:
    """A detector box relative to the landmark box: centre shift and scale, in landmark-box sides."""

    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0

    def apply(self, box: Box) -> Box:
        side = max(box.width, box.height)
        cx, cy = box.centre
        cx, cy, half = cx + self.dx * side, cy + self.dy * side, self.scale * side / 2
        return Box(cx - half, cy - half, cx + half, cy + half)


def calibrate_dlib(detector, split, count: int) -> BoxRule:
    """The median dlib detector box relative to the landmark box on ``count`` training faces."""
    rows = []
    for i in range(min(count, len(split))):
        sample = split[i]
        found = detector(sample.image, 0)
        if not found:
            continue
        truth = landmark_box(sample.points)
        side = max(truth.width, truth.height)
        tc = np.array(truth.centre)
        best = min(found, key=lambda r: np.hypot((r.left() + r.right()) / 2 - tc[0], (r.top() + r.bottom()) / 2 - tc[1]))
        rows.append([((best.left() + best.right()) / 2 - tc[0]) / side,
                     ((best.top() + best.bottom()) / 2 - tc[1]) / side,
                     (best.right() - best.left()) / side])
    if not rows:
        return BoxRule()
    dx, dy, scale = np.median(np.asarray(rows), axis=0)
    return BoxRule(float(dx), float(dy), float(scale))


@dataclass
class Scores:
    """Predictions and per-face times of one method in one setting."""

    pred: list = field(default_factory=list)
    target: list = field(default_factory=list)
    landmark_ms: list = field(default_factory=list)
    total_ms: list = field(default_factory=list)
    misses: int = 0

    def row(self) -> dict:
        pred, target = np.stack(self.pred), np.stack(self.target)
        norm = metrics.interocular(torch.as_tensor(target), IBUG68.eye_corners)
        per_image = metrics.nme(torch.as_tensor(pred), torch.as_tensor(target), norm=norm)
        s = metrics.summarize(per_image.double())
        return {"n": len(pred), "nme": s["nme"], "fr10": s["fr10"], "auc10": s["auc10"],
                "landmark_ms": statistics.median(self.landmark_ms),
                "total_ms": statistics.median(self.total_ms), "misses": self.misses}


def ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0


def run_lmkviz(predictor: Predictor, decoder: str, samples, detector: bool) -> Scores:
    out = Scores()
    for sample in samples:
        t0 = time.perf_counter()
        if detector:
            faces = detect_faces(sample.image)
            face = faces[0] if faces else None
            if face is None:
                out.misses += 1
            t1 = time.perf_counter()
            if face is None:
                box = assumed_face(sample.image)
                side = MARGIN * box.width
                cx, cy = box.centre
                pred = predictor.predict(sample.image, crop=Box(cx - side / 2, cy - side / 2, cx + side / 2,
                                                                 cy + side / 2), decoders=[decoder])
            else:
                pred = predictor.predict(sample.image, face=face, decoders=[decoder])
        else:
            t1 = time.perf_counter()
            h, w = sample.image.shape[:2]
            pred = predictor.predict(sample.image, crop=Box(0, 0, w, h), decoders=[decoder])
        out.landmark_ms.append(ms(t1))
        out.total_ms.append(ms(t0))
        out.pred.append(np.asarray(pred.points[decoder], dtype=np.float64))
        out.target.append(np.asarray(sample.points, dtype=np.float64))
    return out


def run_dlib(tools, rule: BoxRule, samples, detector: bool) -> Scores:
    import dlib

    face_detector, predictor = tools
    out = Scores()
    for sample in samples:
        t0 = time.perf_counter()
        if detector:
            found = face_detector(sample.image, 0)
            if found:
                rect = max(found, key=lambda r: r.width() * r.height())
            else:
                out.misses += 1
                rect = None
        else:
            rect = None
        t1 = time.perf_counter()
        if rect is None:
            box = rule.apply(landmark_box(sample.points)) if not detector else rule.apply(assumed_face(sample.image))
            rect = dlib.rectangle(int(round(box.x0)), int(round(box.y0)), int(round(box.x1)), int(round(box.y1)))
        shape = predictor(sample.image, rect)
        # dlib's part coordinates are pixel indices (centre of pixel j is j): + 0.5 for lmkviz's convention
        points = np.array([[p.x + 0.5, p.y + 0.5] for p in shape.parts()], dtype=np.float64)
        out.landmark_ms.append(ms(t1))
        out.total_ms.append(ms(t0))
        out.pred.append(points)
        out.target.append(np.asarray(sample.points, dtype=np.float64))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="lmkviz's shipped model next to dlib's 68-point predictor.")
    parser.add_argument("--checkpoint", default="default", help="checkpoint path or 'default'")
    parser.add_argument("--data", default="face68", help="68-point dataset (folder or discovered name)")
    parser.add_argument("--splits", nargs="+", default=["val", "test"], help="splits to score")
    parser.add_argument("--limit", type=int, default=None, help="only the first N faces of each split")
    parser.add_argument("--decoder", default=None, help="lmkviz decoder (default: the checkpoint's primary one)")
    parser.add_argument("--flip", action="store_true", help="lmkviz with the flip test")
    parser.add_argument("--calibrate", type=int, default=300, help="training faces for dlib's box rule")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    predictor = Predictor(args.checkpoint, flip_test=args.flip)
    decoder = args.decoder or primary_decoder(predictor.codec.encoding)
    tools = dlib_tools()
    rule = BoxRule()
    if tools is None:
        print(f"dlib is not installed: the dlib rows are left out ({DLIB_INSTALL})")
    else:
        rule = calibrate_dlib(tools[0], open_split(args.data, "train"), args.calibrate)
        print(f"dlib box rule from {args.data}/train: centre shift ({rule.dx:+.3f}, {rule.dy:+.3f}), "
              f"side {rule.scale:.3f} x the landmark box")
    label = f"lmkviz {Path(str(predictor.loaded.path)).name} ({decoder}{', flip' if args.flip else ''})"
    print(f"| split | crops | method | faces | NME % | FR@10 % | AUC@10 % | ms/face landmarks | "
          f"ms/face end to end | detector misses |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for split in args.splits:
        reader = open_split(args.data, split)
        n = len(reader) if args.limit is None else min(args.limit, len(reader))
        samples = [reader[i] for i in range(n)]
        # warm up both (first calls load code and allocate)
        run_lmkviz(predictor, decoder, samples[:2], detector=True)
        if tools is not None:
            run_dlib(tools, rule, samples[:2], detector=True)
        for detector in (False, True):
            crops = "detector" if detector else "ground truth"
            results = [(label, run_lmkviz(predictor, decoder, samples, detector))]
            if tools is not None:
                results.append(("dlib 68-point shape predictor", run_dlib(tools, rule, samples, detector)))
            for name, scores in results:
                r = scores.row()
                misses = str(r["misses"]) if detector else "-"
                print(f"| {split} | {crops} | {name} | {r['n']} | {r['nme']:.2f} | {r['fr10']:.1f} | "
                      f"{r['auc10']:.1f} | {r['landmark_ms']:.1f} | {r['total_ms']:.1f} | {misses} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
