"""Frames per second of the live camera's per-frame callback, as the Upload page runs it.

    python bench/live_camera.py                       # astronaut moving in a 640x480 clip, shipped model
    python bench/live_camera.py --video face.mp4      # any video PyAV or OpenCV can read
    python bench/live_camera.py --frames 300 --threads 1 2

Each frame goes through what streamlit-webrtc's video callback does on the server
(``ui/live.py``): a decoded ``av.VideoFrame`` -> RGB array -> ``LiveProcessor`` (face
detection every N frames, crop tracked in between, network, one decoder, heatmap and
points drawn) -> a new ``av.VideoFrame``. Without PyAV the arrays go straight in.

Settings compared: torch threads (``--threads``), the network as a plain module or traced
by TorchScript (``lmkviz.live.trace_network``, what the page runs), the decoder (DARK,
argmax) and the detection interval (every 15 frames with tracking, every frame).
For each setting it prints the wall time per frame (median, 90th percentile, mean), the
frames/s that the mean allows (the target is >= 10 on 2 CPU cores), the CPU time per
frame of the whole process (all threads: what the frame costs whatever else runs), how
many frames ran the detector and how many landmarks the last frame got. The machine's
load average is printed before and after: on a shared machine, wall times grow with
the load, CPU times much less; compare the rows with each other.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lmkviz.inference import Predictor  # noqa: E402
from lmkviz.live import LiveProcessor, LiveSettings, moving_clip, trace_network  # noqa: E402


def read_video(path: str, limit: int) -> np.ndarray:
    """Up to ``limit`` RGB frames of a video file."""
    frames = []
    try:
        import av

        with av.open(path) as container:
            for frame in container.decode(video=0):
                frames.append(frame.to_ndarray(format="rgb24"))
                if len(frames) >= limit:
                    break
    except ImportError:
        import cv2

        cap = cv2.VideoCapture(path)
        while len(frames) < limit:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        cap.release()
    if not frames:
        raise SystemExit(f"no frames could be read from {path}")
    return np.stack(frames)


def callback_for(processor: LiveProcessor):
    """The per-frame work of the page's video callback, on what the callback receives."""
    try:
        import av
    except ImportError:
        return (lambda frame: processor(frame)), (lambda array: array)

    def callback(frame):
        out = processor(frame.to_ndarray(format="rgb24"))
        return av.VideoFrame.from_ndarray(out, format="rgb24")

    return callback, (lambda array: av.VideoFrame.from_ndarray(array, format="rgb24"))


def run(predictor, clip: np.ndarray, settings: LiveSettings, threads: int, network=None, warmup: int = 5) -> dict:
    processor = LiveProcessor(predictor, settings, threads=threads, network=network)
    callback, wrap = callback_for(processor)
    inputs = [wrap(f) for f in clip]
    for frame in inputs[:warmup]:
        callback(frame)
    processor.reset()
    times = []
    cpu0 = time.process_time()
    for frame in inputs:
        t0 = time.perf_counter()
        callback(frame)
        times.append(time.perf_counter() - t0)
    cpu = (time.process_time() - cpu0) / len(inputs)
    stats = processor.stats()
    mean = statistics.fmean(times)
    return {"median": statistics.median(times) * 1000, "p90": float(np.percentile(times, 90)) * 1000,
            "mean": mean * 1000, "fps": 1.0 / mean, "cpu": cpu * 1000, "detections": stats.detections,
            "frames": stats.frames, "landmarks": stats.landmarks}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Frames/s of the live camera's per-frame callback.")
    parser.add_argument("--checkpoint", default="default", help="checkpoint path or 'default'")
    parser.add_argument("--video", help="a face video (default: scikit-image's astronaut moving in a 640x480 clip)")
    parser.add_argument("--frames", type=int, default=90, help="frames timed per setting")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch threads to compare")
    args = parser.parse_args(argv)

    if args.video:
        clip, source = read_video(args.video, args.frames), args.video
    else:
        from skimage import data

        clip, source = moving_clip(data.astronaut(), frames=args.frames, radius=0.05), "astronaut clip"
    predictor = Predictor(args.checkpoint)
    h, w = clip.shape[1:3]
    print(f"{source}: {len(clip)} frames of {w}x{h}; checkpoint {predictor.loaded.path.name} "
          f"({predictor.input_size} px input); {os.cpu_count()} CPUs; OMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY', '(unset)')}; load average {os.getloadavg()[0]:.1f}")
    traced = trace_network(predictor)
    networks = {"eager": None, "traced": traced} if traced is not None else {"eager": None}
    best = "traced" if traced is not None else "eager"
    rows = [(threads, net, "dark", 15) for threads in args.threads for net in networks]
    rows += [(args.threads[0], best, "argmax", 15), (args.threads[0], best, "dark", 1)]
    print(f"{'threads':>7} {'network':>7} {'decoder':>8} {'detect every':>12} {'median ms':>10} {'p90 ms':>7} "
          f"{'mean ms':>8} {'frames/s':>9} {'CPU ms':>7} {'detections':>10} {'landmarks':>9}")
    default = torch.get_num_threads()
    for threads, net, decoder, every in rows:
        settings = LiveSettings(decoder=decoder, channel=0, detect_every=every)
        r = run(predictor, clip, settings, threads, networks[net])
        print(f"{threads:>7} {net:>7} {decoder:>8} {every:>12} {r['median']:>10.1f} {r['p90']:>7.1f} "
              f"{r['mean']:>8.1f} {r['fps']:>9.1f} {r['cpu']:>7.1f} {r['detections']:>5}/{r['frames']:<4} "
              f"{r['landmarks']:>9}")
    torch.set_num_threads(default)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
