"""Speed of every registered model: parameters, inference latency, training throughput.

    python bench/model_speed.py                        # all models, 128-256 px, CPU (+ CUDA)
    python bench/model_speed.py --sizes 128 --models hrnet18_small "unet_resnet18:stride=2"
    python bench/model_speed.py --device cpu --channels-last

For each model and square input size it prints

* params: parameter count (for --points heatmaps),
* fwd ms: forward time in eval mode at batch 1 (no autograd), best of --iters,
* train img/s: images per second for forward + MSE loss + backward + SGD step
  at batch --batch (16), in training mode, from the best of --steps steps.

A model spec is a registry name, optionally with factory keyword arguments:
``name:key=value,key=value`` (values are parsed as Python literals).
CPU runs use all cores (``torch.set_num_threads(os.cpu_count())``); numbers on a
shared machine are rough: the best of several runs is the one least slowed down by
other processes, so it is what the table shows.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lmkviz import models  # noqa: E402


def parse_spec(spec: str) -> tuple[str, dict]:
    """'name:key=value,key=value' -> ('name', {key: value})."""
    name, _, rest = spec.partition(":")
    kwargs = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        try:
            kwargs[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            kwargs[key] = value
    return name, kwargs


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def forward_ms(model, size: int, device, iters: int, channels_last: bool) -> float:
    """Best eval-mode forward time (ms) over ``iters`` runs for one (1, 3, size, size) image."""
    model.eval()
    images = torch.rand(1, 3, size, size, device=device)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    times = []
    with torch.inference_mode():
        for i in range(iters + 2):  # two warm-up runs
            synchronize(device)
            start = time.perf_counter()
            model(images)
            synchronize(device)
            if i >= 2:
                times.append(time.perf_counter() - start)
    return 1000 * min(times)


def train_images_per_second(model, size: int, device, batch: int, steps: int,
                            channels_last: bool) -> float:
    """Images/s (from the best of ``steps`` timed steps) for forward + MSE + backward +
    SGD step at ``batch`` images of ``size`` px."""
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    images = torch.rand(batch, 3, size, size, device=device)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        target = torch.zeros_like(model(images[:1])).expand(batch, -1, -1, -1).contiguous()

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(images), target)
        loss.backward()
        optimizer.step()

    step()  # warm-up (allocations, algorithm selection)
    times = []
    for _ in range(steps):
        synchronize(device)
        start = time.perf_counter()
        step()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return batch / min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=models.list_models(),
                        help="registry names, optionally 'name:key=value,...'")
    parser.add_argument("--sizes", nargs="+", type=int, default=[128, 160, 192, 256])
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="auto: CPU, then CUDA when available")
    parser.add_argument("--points", type=int, default=68, help="number of heatmaps K")
    parser.add_argument("--batch", type=int, default=16, help="training batch size")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps")
    parser.add_argument("--iters", type=int, default=10, help="timed forward passes")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    if args.device == "auto":
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    else:
        devices = [args.device]

    print(f"torch {torch.__version__}, {args.threads} CPU threads, K={args.points}, "
          f"train batch {args.batch}, channels_last={args.channels_last}")
    header = (f"{'device':<6} {'model':<34} {'params':>8} {'stride':>6} {'input':>5} "
              f"{'heatmap':>7} {'fwd ms':>8} {'train img/s':>11}")
    print(header)
    print("-" * len(header))
    for device_name in devices:
        device = torch.device(device_name)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        for spec in args.models:
            name, kwargs = parse_spec(spec)
            kwargs.setdefault("pretrained", False)
            torch.manual_seed(0)
            model = models.create(name, args.points, **kwargs).to(device)
            if args.channels_last:
                model = model.to(memory_format=torch.channels_last)
            params = models.count_parameters(model)
            for size in args.sizes:
                hm = size // model.stride
                fwd = forward_ms(model, size, device, args.iters, args.channels_last)
                ips = train_images_per_second(model, size, device, args.batch, args.steps,
                                              args.channels_last)
                print(f"{device_name:<6} {spec:<34} {params / 1e6:7.2f}M {model.stride:>6} "
                      f"{size:>5} {hm:>7} {fwd:8.1f} {ips:11.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
