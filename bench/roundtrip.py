"""Round-trip accuracy of every decoder on every encoding (printed table).

For random sub-pixel points, encode target heatmaps and decode them again;
report the mean Euclidean error in heatmap pixels. Binary maps are random: the
"binary" rows decode single draws, the "binary, mean of 2000 draws" row
averages the argmax of 2000 draws per point (what training on many draws
teaches a network to predict).

    python bench/roundtrip.py            # full table
    python bench/roundtrip.py --quick    # fewer points
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lmkviz.decoding import DECODERS, decode  # noqa: E402
from lmkviz.encoding import ENCODINGS, encode  # noqa: E402


def roundtrip_error(encoding: str, size: int, sigma: float, method: str, n: int, k: int, seed: int = 0) -> float:
    g = torch.Generator().manual_seed(seed)
    margin = min(3 * sigma, size / 4) if encoding != "binary" else 1.0
    points = torch.rand(n, k, 2, generator=g, dtype=torch.float64) * (size - 2 * margin) + margin
    maps = encode(points, size, encoding, sigma=sigma, generator=g)
    out = decode(maps, method, logits=False)
    return (out - points).norm(dim=-1).mean().item()


def binary_mean_of_draws(size: int, draws: int, k: int, seed: int = 0) -> float:
    g = torch.Generator().manual_seed(seed)
    points = torch.rand(1, k, 2, generator=g, dtype=torch.float64) * (size - 2) + 1
    maps = encode(points.expand(draws, -1, -1), size, "binary", generator=g)
    mean = decode(maps, "argmax").mean(0)
    return (mean - points[0]).norm(dim=-1).mean().item()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer random points")
    args = parser.parse_args(argv)
    n, k = (8, 68) if args.quick else (32, 106)
    sizes = (32, 64, 128)
    sigmas = (1.0, 2.0, 3.0)
    header = "| encoding | sigma | map | " + " | ".join(DECODERS) + " |"
    print(f"Mean round-trip error in heatmap pixels ({n * k} random sub-pixel points per cell)\n")
    print(header)
    print("|" + "---|" * (3 + len(DECODERS)))
    for encoding in ENCODINGS:
        for sigma in (sigmas if encoding != "binary" else (None,)):
            for size in sizes:
                errs = [roundtrip_error(encoding, size, sigma or 1.0, m, n, k) for m in DECODERS]
                s = "-" if sigma is None else f"{sigma:g}"
                print(f"| {encoding} | {s} | {size} | " + " | ".join(f"{e:.4f}" for e in errs) + " |")
    for size in sizes:
        e = binary_mean_of_draws(size, 2000, 20)
        print(f"| binary, mean argmax of 2000 draws | - | {size} | {e:.4f} | | | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
