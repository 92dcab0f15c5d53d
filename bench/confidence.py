"""Where the Upload page's confidence thresholds come from (``lmkviz.inference``).

    LMKVIZ_DATA=../shared/datasets python bench/confidence.py
    python bench/confidence.py --checkpoint runs/RUN/best.pt --flip

Runs a checkpoint on faces (the val splits of face68 and ytf68, already cropped as the
network expects) and on pictures without a face (scikit-image's sample pictures, whole
as the Upload page crops them when no face is found, and in random square crops) and
prints:

1. the landmarks' heatmap peaks against their error (% of the inter-ocular distance),
   which sets POINT_SURE and POINT_GUESS;
2. the median peak per picture, faces against non-faces, which sets IMAGE_SURE and
   IMAGE_NO_FACE;
3. how the thresholds sort both.

Without the face datasets only the non-face part runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lmkviz import inference  # noqa: E402
from lmkviz.data import discover_datasets  # noqa: E402
from lmkviz.evaluation import evaluate  # noqa: E402
from lmkviz.inference import Box, Predictor, assess  # noqa: E402

NON_FACES = ("coffee", "chelsea", "rocket", "camera", "coins", "horse", "brick", "grass", "gravel", "moon", "page",
             "text", "hubble_deep_field", "immunohistochemistry", "retina", "clock", "logo", "colorwheel", "cell",
             "binary_blobs", "microaneurysms", "cat")
BINS = (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01)


def rgb_uint8(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = image.astype(np.float64)
        image = (255 * (image - image.min()) / max(1e-9, image.max() - image.min())).astype(np.uint8)
    if image.ndim == 2:
        image = np.stack([image] * 3, -1)
    return np.ascontiguousarray(image[..., :3])


def non_faces(predictor: Predictor, crops: int, seed: int = 0) -> list[tuple[str, float]]:
    """(name, median peak) of each picture (whole, as the page crops it without a face) and of
    ``crops`` random square crops of it."""
    from skimage import data

    rng = np.random.default_rng(seed)
    out = []
    for name in NON_FACES:
        try:
            image = rgb_uint8(getattr(data, name)())
        except Exception:  # a picture that needs an optional download (pooch) is left out
            continue
        whole = predictor.predict(image, detect=False)
        out.append((name, float(np.median(whole.confidence))))
        h, w = image.shape[:2]
        for i in range(crops):
            side = rng.uniform(0.3, 1.0) * min(h, w)
            cx, cy = rng.uniform(side / 2, w - side / 2), rng.uniform(side / 2, h - side / 2)
            crop = predictor.predict(image, crop=Box.square(cx, cy, side))
            out.append((f"{name} crop {i + 1}", float(np.median(crop.confidence))))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="default")
    parser.add_argument("--flip", action="store_true", help="with the flip test")
    parser.add_argument("--crops", type=int, default=8, help="random crops per non-face picture")
    args = parser.parse_args(argv)
    predictor = Predictor(args.checkpoint, flip_test=args.flip)
    print(f"checkpoint {args.checkpoint}, flip test {'on' if args.flip else 'off'}; thresholds: "
          f"POINT_SURE {inference.POINT_SURE}, POINT_GUESS {inference.POINT_GUESS}, "
          f"IMAGE_SURE {inference.IMAGE_SURE}, IMAGE_NO_FACE {inference.IMAGE_NO_FACE}\n")

    face_medians = []
    found = {d.name: d for d in discover_datasets()}
    for name in ("face68", "ytf68"):
        if name not in found or not found[name].splits.get("val"):
            print(f"{name}: not found (set LMKVIZ_DATA), skipped")
            continue
        ev = evaluate(predictor, str(found[name].path), "val")
        peaks = ev.confidence.ravel()
        errors = (np.linalg.norm(ev.pred["dark"] - ev.target, axis=-1) / ev.norm[:, None]).ravel() * 100
        print(f"## {name}/val: {ev.n} faces, {peaks.size} landmarks, DARK NME {np.mean(ev.nme['dark']) * 100:.2f} %")
        print("| heatmap peak | landmarks | share | mean error % | median error % |")
        print("|---|---|---|---|---|")
        for lo, hi in zip(BINS[:-1], BINS[1:]):
            m = (peaks >= lo) & (peaks < hi)
            if m.any():
                print(f"| {lo:.1f}-{min(hi, 1.0):.1f} | {m.sum()} | {100 * m.mean():.2f} % | {errors[m].mean():.2f} | "
                      f"{np.median(errors[m]):.2f} |")
        medians = np.median(ev.confidence, axis=1)
        face_medians += medians.tolist()
        print(f"median peak per face: min {medians.min():.3f}, 1st percentile {np.percentile(medians, 1):.3f}, "
              f"median {np.median(medians):.3f}\n")

    rows = non_faces(predictor, args.crops)
    values = np.array([v for _, v in rows])
    print(f"## non-faces: {len(rows)} pictures and crops")
    for name, value in rows:
        if "crop" not in name:
            print(f"  {name:22s} whole picture: median peak {value:.3f}")
    top = max(rows, key=lambda r: r[1])
    print(f"median peak: max {top[1]:.3f} ({top[0]}), 90th percentile {np.percentile(values, 90):.3f}, "
          f"median {np.median(values):.3f}\n")

    print("## how the thresholds sort them")
    print("| pictures | confident | unsure | no_face |")
    print("|---|---|---|---|")
    for label, medians, face in (("faces", face_medians, True), ("non-faces", values.tolist(), False)):
        if not medians:
            continue
        levels = [assess(np.full(8, m), face).level for m in medians]
        share = {lv: 100 * levels.count(lv) / len(levels) for lv in inference.QUALITY_LEVELS}
        print(f"| {label} ({len(levels)}) | {share['confident']:.1f} % | {share['unsure']:.1f} % | "
              f"{share['no_face']:.1f} % |")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    sys.exit(main())
