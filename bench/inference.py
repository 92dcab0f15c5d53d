"""Time to landmarks for one uploaded photo, as the Upload page does it.

    python bench/inference.py                          # the shipped checkpoint, CPU
    python bench/inference.py --checkpoint runs/RUN/best.pt --device cuda --repeats 20

For each Predictor setting (memory layout, flip test) it prints the median time
of each stage on scikit-image's astronaut photo (512x512 JPEG): reading the file
(``load_image``), finding the face (``detect_faces``), the network and the four
decoders (``predict`` with a given face box) and the whole ``predict`` call with
detection, plus the one-off checkpoint load. The target is under 1 s for one
face on 2 CPU cores with the default checkpoint.

Times are medians over --repeats runs after a warm-up, on one machine in one run;
on a shared machine compare the rows with each other, not with another run.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lmkviz.inference import Predictor, detect_faces, load_image  # noqa: E402


def median_time(fn, repeats: int, cuda: bool = False) -> float:
    fn()
    times = []
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def astronaut_jpeg() -> bytes:
    from PIL import Image
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Seconds from an uploaded photo to landmarks.")
    parser.add_argument("--checkpoint", default="default", help="checkpoint path or 'default'")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    data = astronaut_jpeg()
    image = load_image(data, name="astronaut.jpg").array
    faces = detect_faces(image)
    face = faces[0] if faces else None
    t0 = time.perf_counter()
    Predictor(args.checkpoint, device=args.device)
    load_s = time.perf_counter() - t0

    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, device {args.device}, "
          f"checkpoint {args.checkpoint}")
    print(f"photo: astronaut {image.shape[1]}x{image.shape[0]} JPEG, {len(faces)} face(s) found")
    print(f"checkpoint load (once, cached by the app): {load_s * 1000:.0f} ms\n")

    read_s = median_time(lambda: load_image(data, name="astronaut.jpg"), args.repeats)
    detect_s = median_time(lambda: detect_faces(image), args.repeats)
    print("| setting | read ms | detect ms | network + 4 decoders ms | predict total ms | total incl. read ms |")
    print("|---|---:|---:|---:|---:|---:|")
    results = {}
    for channels_last in (False, True):
        for flip in (False, True):
            predictor = Predictor(args.checkpoint, device=args.device, flip_test=flip, channels_last=channels_last)
            cuda = predictor.device.type == "cuda"
            net_s = median_time(lambda: predictor.predict(image, face=face), args.repeats, cuda)
            total_s = median_time(lambda: predictor.predict(image), args.repeats, cuda)
            label = f"{'channels_last' if channels_last else 'NCHW'}{', flip test' if flip else ''}"
            results[label] = total_s + read_s
            print(f"| {label} | {read_s * 1000:.1f} | {detect_s * 1000:.1f} | {net_s * 1000:.1f} | "
                  f"{total_s * 1000:.1f} | {(total_s + read_s) * 1000:.1f} |")
    default = results["NCHW"] if args.device == "cpu" else results["channels_last"]
    print(f"\nPredictor default setting: {default * 1000:.0f} ms per photo "
          f"({'under' if default < 1 else 'OVER'} the 1 s target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
