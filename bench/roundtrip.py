"""Round-trip accuracy of every decoder on every encoding and codec (printed tables).

For random sub-pixel points, encode target heatmaps and decode them again;
report the mean Euclidean error in heatmap pixels. Binary maps are random: the
"binary" rows decode single draws, the "binary, mean of 2000 draws" row
averages the argmax of 2000 draws per point (what training on many draws
teaches a network to predict).

The second table runs every codec (heatmap, UDP, SimCC at ratio 2) with each of
its decoders and their default options, on 256 px images: mean and worst error
in image pixels, for points at least 3 sigma inside the image and for points
anywhere (the border cells included).

    python bench/roundtrip.py            # full table
    python bench/roundtrip.py --quick    # fewer points
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lmkviz.codecs import HeatmapCodec, SimCCCodec, UDPHeatmapCodec  # noqa: E402
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
        print(f"| binary, mean argmax of 2000 draws | - | {size} | {e:.4f} |" + " |" * (len(DECODERS) - 1))
    print()
    codec_table(n, k)
    return 0


def codec_table(n: int, k: int, image: int = 256) -> None:
    """Every codec with each of its decoders (default options, and DARK without modulation)."""
    codecs = [("heatmap, 64 cells, sigma 2", HeatmapCodec(image, 64, "gaussian", 2.0)),
              ("udp_heatmap, 64 cells, sigma 2", UDPHeatmapCodec(image, 64, "gaussian", 2.0)),
              ("simcc, ratio 2, sigma 6 bins", SimCCCodec(image, ratio=2.0, sigma=6.0))]
    print(f"Round trip through each codec, {n * k} random sub-pixel points, {image} px images: "
          "mean / worst error in image pixels\n")
    print("| codec | decoder (default options) | 3 sigma inside: mean | max | anywhere: mean | max |")
    print("|---|---|---:|---:|---:|---:|")
    for label, codec in codecs:
        sigma_px = 3 * codec.sigma * (codec.stride if isinstance(codec, HeatmapCodec) else 1 / codec.ratio)
        g = torch.Generator().manual_seed(1)
        inside = torch.rand(n, k, 2, generator=g) * (image - 2 * sigma_px) + sigma_px
        anywhere = torch.rand(n, k, 2, generator=g) * image
        targets = {"inside": codec.encode(inside)[0], "anywhere": codec.encode(anywhere)[0]}
        variants = [(m, {}) for m in codec.decoders] + [("dark", {"blur": 0.0})]
        for method, options in variants:
            cells = []
            for name, points in (("inside", inside), ("anywhere", anywhere)):
                err = (codec.decode(targets[name], method, logits=False, **options) - points).norm(dim=-1)
                cells += [f"{err.mean().item():.4f}", f"{err.max().item():.4f}"]
            shown = {**codec.decode_options(method), **options}
            name = method + (" (" + ", ".join(f"{key} {v:g}" for key, v in shown.items()) + ")" if shown else "")
            print(f"| {label} | {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    raise SystemExit(main())
