"""Generation speed of the embedded synthetic faces (the issue asks for 1000 faces at 256 px in seconds).

    python bench/synthetic.py              # 1000 faces at 128, 256 and 512 px
    python bench/synthetic.py --n 200 --sizes 256

Prints faces per second and the time for the batch, single process, as
``lmkviz.data.synthetic.synthetic_faces`` generates them (deterministic by seed).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lmkviz.data.synthetic import synthetic_faces  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Synthetic face generation speed.")
    parser.add_argument("--n", type=int, default=1000, help="faces per size")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    args = parser.parse_args(argv)
    synthetic_faces(2, size=64)  # warm-up: imports and cached tables
    print("| size px | faces | seconds | faces/s |")
    print("|---:|---:|---:|---:|")
    for size in args.sizes:
        t0 = time.perf_counter()
        images, points = synthetic_faces(args.n, size=size, seed=1)
        dt = time.perf_counter() - t0
        assert images.shape == (args.n, size, size, 3) and points.shape == (args.n, 68, 2)
        print(f"| {size} | {args.n} | {dt:.1f} | {args.n / dt:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
