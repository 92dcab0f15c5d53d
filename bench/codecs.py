"""Encode / decode speed of lmkviz's codecs next to the seeds' per-point loops.

Prints a table per setting: the time of each operation, the memory floor (the
time to fill a tensor of the output's size), every codec (heatmap, UDP, SimCC at
ratio 2) and decoder (argmax, quarter, local and global top-k, DARK with and
without modulation, soft-argmax), and the per-point loops of the two seed
documents, re-implemented here for comparison (the blog's Gaussian paste and
randomized rounding, one point at a time; the DARK note's decoder, one channel
and one connected component at a time). Settings:

- H3R on LaPa: N=32, K=106, 64x64, sigma=2
- the blog's UNet: N=32, K=5, 256x256, sigma=10

    python bench/codecs.py [--repeats 5] [--device cpu|cuda|all]

Times are medians over repeats on one machine in one run; compare ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lmkviz.codecs import HeatmapCodec, SimCCCodec, UDPHeatmapCodec  # noqa: E402
from lmkviz.decoding import decode, gaussian_blur  # noqa: E402
from lmkviz.encoding import binary_heatmaps, gaussian_heatmaps  # noqa: E402


def timeit(fn, repeats: int, device: str) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# --- the seeds' per-point loops, re-implemented for comparison -----------------

def blog_gaussian_loop(points: torch.Tensor, size: int, sigma: float) -> torch.Tensor:
    """The blog's Gaussian encoder, step for step: points scaled to (-1, 1) (fastai's
    PointScaler), then for every (image, point) pair the 0-d tensor coordinates are
    turned into an integer centre and a cached (6 sigma + 1)^2 kernel is pasted into
    that point's zero map, clipped at the borders."""
    n, k, _ = points.shape
    scaled = points / size * 2 - 1
    maps = torch.zeros(n, k, size, size, device=points.device)
    cache = {}
    for b in range(n):
        for c in range(k):
            point = scaled[b][c]
            t = maps[b][c]
            h, w = t.shape
            cx = int(0.5 * (point[0] + 1.0) * w)
            cy = int(0.5 * (point[1] + 1.0) * h)
            reach = sigma * 3
            left, top = int(cx - reach), int(cy - reach)
            right, bottom = int(cx + reach + 1), int(cy + reach + 1)
            if left >= w or top >= h or right < 0 or bottom < 0:
                continue
            if sigma not in cache:
                side = int(2 * reach + 1)
                ax = np.arange(side, dtype=np.float32) - side // 2
                cache[sigma] = torch.tensor(np.exp(-(ax[None, :] ** 2 + ax[:, None] ** 2) / (2 * sigma**2)))
            kern = cache[sigma]
            t[max(0, top):min(bottom, h), max(0, left):min(right, w)] = kern[
                max(0, -top):min(bottom, h) - top, max(0, -left):min(right, w) - left
            ]
    return maps


def blog_binary_loop(points: torch.Tensor, size: int) -> torch.Tensor:
    """The blog's randomized rounding, step for step: points scaled to (-1, 1) then
    shifted to (0, 2); for every (image, point) pair the 0-d tensor coordinates are
    scaled to the map, truncated, compared with two uniform draws, and the chosen
    cell of that point's zero map is set to 1."""
    n, k, _ = points.shape
    scaled = points / size * 2 - 1
    maps = torch.zeros(n, k, size, size, dtype=torch.long, device=points.device)
    for b in range(n):
        for c in range(k):
            heatmap = maps[b][c]
            point = scaled[b][c] + 1.0
            oh, ow = heatmap.shape
            px, py = point[0] * (ow / 2.0), point[1] * (oh / 2.0)
            nx, ny = int(px), int(py)
            ex, ey = px - nx, py - ny
            draw = torch.rand(2, device=heatmap.device)
            xx = (ex >= draw[0]).long()
            yy = (ey >= draw[1]).long()
            heatmap[min(ny + yy, oh - 1), min(nx + xx, ow - 1)] = 1
    return maps


def note_dark_loop(heatmaps: torch.Tensor) -> list:
    """DARK-note-style decoder: max-pool NMS, then per channel connected
    components (scikit-image), and per component a 1-D log-derivative shift
    from its four neighbours (no cross term)."""
    from skimage.measure import label, regionprops

    n, k, h, w = heatmaps.shape
    maps = heatmaps.reshape(n * k, h, w).clamp(0, 1)
    pooled = torch.nn.functional.max_pool2d(maps[:, None], 3, stride=1, padding=1)[:, 0]
    peaks = ((pooled == maps) & (maps >= 0.1)).cpu().numpy()
    values = maps.cpu().numpy()
    out = []
    for c in range(n * k):
        centres = []
        for region in regionprops(label(peaks[c])):
            y, x = np.round(region.centroid).astype(int)
            if 0 < y < h - 1 and 0 < x < w - 1:
                v = np.log(np.maximum(values[c, [y, y - 1, y + 1, y, y], [x, x, x, x - 1, x + 1]], 1e-10))
                dy, dx = (v[2] - v[1]) / 2, (v[4] - v[3]) / 2
                dyy, dxx = v[2] + v[1] - 2 * v[0], v[4] + v[3] - 2 * v[0]
                centres.append((x - dx / dxx, y - dy / dyy))
            else:
                centres.append((x, y))
        out.append(centres)
    return out


# --- the table ------------------------------------------------------------------

def run_setting(n, k, size, sigma, device, repeats, loops=True):
    g = torch.Generator().manual_seed(0)
    points = (torch.rand(n, k, 2, generator=g) * (size - 8) + 4).to(device)
    maps = gaussian_heatmaps(points, size, sigma)
    rows = []
    floor = timeit(lambda: torch.ones(n, k, size, size, device=device), repeats, device)
    rows.append(("fill floor (torch.ones of the output size)", floor, None))
    gauss = timeit(lambda: gaussian_heatmaps(points, size, sigma), repeats, device)
    rows.append(("gaussian_heatmaps", gauss, None))
    binary = timeit(lambda: binary_heatmaps(points, size), repeats, device)
    rows.append(("binary_heatmaps", binary, None))
    binary_u8 = timeit(lambda: binary_heatmaps(points, size, dtype=torch.uint8), repeats, device)
    rows.append(("binary_heatmaps, dtype=uint8", binary_u8, None))
    buffer = torch.empty(n, k, size, size, device=device)
    binary_out = timeit(lambda: binary_heatmaps(points, size, out=buffer), repeats, device)
    rows.append(("binary_heatmaps, float32 into a reused buffer (out=)", binary_out, None))
    # the codecs work in image pixels: a 4x larger image for the heatmap codecs, SimCC at ratio 2
    image = 4 * size
    heatmap_codec = HeatmapCodec(image, size, "gaussian", sigma)
    udp = UDPHeatmapCodec(image, size, "gaussian", sigma)
    simcc = SimCCCodec(image, ratio=2.0, sigma=3.0 * sigma)
    image_points = points * 4
    codec_encode = timeit(lambda: heatmap_codec.encode(image_points), repeats, device)
    rows.append(("HeatmapCodec.encode (maps and keypoint weights)", codec_encode, None))
    rows.append(("UDPHeatmapCodec.encode", timeit(lambda: udp.encode(image_points), repeats, device), None))
    wx, hy = simcc.lengths
    simcc_floor = timeit(lambda: (torch.ones(n, k, wx, device=device), torch.ones(n, k, hy, device=device)),
                         repeats, device)
    rows.append((f"fill floor of SimCC's labels ({wx} + {hy} bins)", simcc_floor, None))
    simcc_encode = timeit(lambda: simcc.encode(image_points), repeats, device)
    rows.append(("SimCCCodec.encode (ratio 2)", simcc_encode, None))
    argmax = timeit(lambda: decode(maps, "argmax"), repeats, device)
    rows.append(("decode argmax", argmax, None))
    rows.append(("decode quarter", timeit(lambda: decode(maps, "quarter"), repeats, device), None))
    topk = timeit(lambda: decode(maps, "topk"), repeats, device)
    rows.append(("decode topk (local, default)", topk, None))
    rows.append(("decode topk (global, local=False)", timeit(lambda: decode(maps, "topk", local=False), repeats,
                                                           device), None))
    dark = timeit(lambda: decode(maps, "dark"), repeats, device)
    rows.append(("decode dark (no modulation)", dark, None))
    dark1 = timeit(lambda: decode(maps, "dark", blur=1.0), repeats, device)
    rows.append(("decode dark (modulation, blur=1)", dark1, None))
    dark_sigma = timeit(lambda: decode(maps, "dark", blur=sigma), repeats, device)
    rows.append((f"decode dark (modulation, blur=sigma={sigma:g}: the codec default)", dark_sigma, None))
    whole = timeit(lambda: gaussian_blur(maps, 1.0), repeats, device)
    rows.append(("whole-map blur, blur=1 (what the modulation used to cost)", whole, None))
    soft = timeit(lambda: decode(maps, "softargmax"), repeats, device)
    rows.append(("decode softargmax (scores)", soft, None))
    soft_logits = timeit(lambda: decode(maps, "softargmax", logits=True), repeats, device)
    rows.append(("decode softargmax (logits)", soft_logits, None))
    rows.append(("UDPHeatmapCodec.decode dark (default blur)", timeit(lambda: udp.decode(maps, "dark"), repeats,
                                                                   device), None))
    labels, _ = simcc.encode(image_points)
    logits = tuple(torch.log(v.clamp_min(1e-30)) for v in labels)
    simcc_times = {}
    for m in simcc.decoders:
        simcc_times[m] = timeit(lambda: simcc.decode(logits, m), repeats, device)
        rows.append((f"SimCCCodec.decode {m} (logits, both axes)", simcc_times[m], None))
    ratios = {"gaussian / fill floor": gauss / floor, "dark / argmax": dark / argmax,
              "dark blur=1 / dark": dark1 / dark, f"dark blur={sigma:g} / dark": dark_sigma / dark,
              "whole-map blur / dark blur=1": whole / dark1, "topk local / argmax": topk / argmax,
              "softargmax / argmax": soft / argmax, "SimCC encode / its fill floor": simcc_encode / simcc_floor,
              "SimCC decode dark / heatmap argmax": simcc_times["dark"] / argmax}
    if loops:
        loop_repeats = max(1, min(repeats, 2))
        t = timeit(lambda: blog_gaussian_loop(points, size, sigma), loop_repeats, device)
        rows.append(("blog's Gaussian loop (per point)", t, None))
        ratios["blog Gaussian loop / gaussian_heatmaps"] = t / gauss
        t = timeit(lambda: blog_binary_loop(points, size), loop_repeats, device)
        rows.append(("blog's randomized-rounding loop (per point)", t, None))
        ratios["blog binary loop / binary_heatmaps"] = t / binary
        ratios["blog binary loop / binary_heatmaps uint8"] = t / binary_u8
        ratios["blog binary loop / binary_heatmaps out="] = t / binary_out
        t = timeit(lambda: note_dark_loop(maps), loop_repeats, device)
        rows.append(("DARK note's decoder (per channel)", t, None))
        ratios["DARK note / decode dark"] = t / dark
    return rows, ratios


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Encode/decode speed next to the seeds' loops.")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="all", choices=["cpu", "cuda", "all"])
    parser.add_argument("--no-loops", action="store_true", help="skip the slow per-point loops")
    args = parser.parse_args(argv)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [d for d in devices if d == "cpu" or torch.cuda.is_available()]
    settings = [("H3R on LaPa", 32, 106, 64, 2.0), ("blog UNet", 32, 5, 256, 10.0)]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
          + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""))
    for device in devices:
        for name, n, k, size, sigma in settings:
            rows, ratios = run_setting(n, k, size, sigma, device, args.repeats, loops=not args.no_loops)
            print(f"\n### {name}: N={n}, K={k}, {size}x{size}, sigma={sigma:g}, {device}\n")
            print("| operation | ms |")
            print("|---|---:|")
            for label, sec, _ in rows:
                print(f"| {label} | {sec * 1000:.2f} |")
            print("\n| ratio | value |")
            print("|---|---:|")
            for label, value in ratios.items():
                print(f"| {label} | {value:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
