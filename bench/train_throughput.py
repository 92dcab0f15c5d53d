"""Training images per second, per model and device, with the real data pipeline.

    python bench/train_throughput.py                                  # CPU, small models, 128 px
    python bench/train_throughput.py --data ../shared/datasets/face68 --models hrnet18 \\
        --device cuda --input-size 256 --batch-size 64 --workers 12 --steps 50

For each model it prints three rates, each from --steps steps after --warmup:

* data img/s: the training DataLoader alone (read, augment, batch),
* compute img/s: one batch on the device, encoded + forward + loss + backward +
  AdamW step, repeated (what the model could do with an infinitely fast loader),
* train img/s: both together, exactly as ``lmkviz.training`` runs an epoch
  (bfloat16 autocast and channels_last on CUDA).

When train img/s is well below compute img/s, the data pipeline is the bottleneck:
add --workers. Numbers on a shared machine are rough; compare rows of one run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lmkviz.devices import device_label, resolve_device, tune_for_training  # noqa: E402
from lmkviz.training import TrainConfig, build_datasets, build_model, make_codec, train_step  # noqa: E402

CPU_MODELS = ["hrnet18_small", "hrnet18_small_v2", "unet_resnet18_small"]
GPU_MODELS = ["hrnet18", "unet_resnet18", "hrnet18_small", "unet_resnet18_small"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(model_name: str, args, device: torch.device) -> dict:
    config = TrainConfig(name="bench", data=tuple(args.data), model=model_name, encoding=args.encoding,
                         input_size=args.input_size, batch_size=args.batch_size, workers=args.workers,
                         sigma=args.sigma, augment=args.augment, device=str(device))
    train_ds, _, scheme, indices = build_datasets(config)
    net, _ = build_model(config, len(indices))
    codec = make_codec(config, net.stride)
    amp = device.type == "cuda"
    net = net.to(device)
    tune_for_training(device)
    if device.type == "cuda":
        net = net.to(memory_format=torch.channels_last)
    net.train()
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4)
    idx = torch.as_tensor(list(indices), device=device)
    steps = args.steps + args.warmup
    loader = torch.utils.data.DataLoader(
        train_ds, batch_size=args.batch_size, num_workers=args.workers,
        pin_memory=device.type == "cuda", drop_last=True, persistent_workers=args.workers > 0,
        sampler=torch.utils.data.RandomSampler(train_ds, replacement=True, num_samples=10 ** 9))

    def step(batch) -> None:
        train_step(net, optimizer, batch, codec, idx, config, device, amp=amp, channels_last=device.type == "cuda")

    def rate(fn, count: int) -> float:
        for _ in range(args.warmup):
            fn()
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(count):
            fn()
        _sync(device)
        return count * args.batch_size / (time.perf_counter() - t0)

    batches = iter(loader)
    data_rate = rate(lambda: next(batches), args.steps)
    fixed = next(batches)
    compute_rate = rate(lambda: step(fixed), args.steps)
    train_rate = rate(lambda: step(next(batches)), args.steps)
    params = sum(p.numel() for p in net.parameters())
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return {"model": model_name, "params": params, "data": data_rate, "compute": compute_rate,
            "train": train_rate, "peak_gib": peak, "points": len(indices), "steps": steps}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Training images/s per model with the real data pipeline.")
    parser.add_argument("--data", nargs="+", default=["synthetic"],
                        help="training data: LaPa-layout folders or 'synthetic' (default)")
    parser.add_argument("--models", nargs="+", default=None,
                        help=f"registry names (default: CPU {CPU_MODELS}, CUDA {GPU_MODELS})")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--encoding", default="gaussian", help="gaussian, gaussian_int or binary")
    parser.add_argument("--sigma", type=float, default=1.5)
    parser.add_argument("--input-size", type=int, default=None, help="default 128 on CPU, 256 on CUDA")
    parser.add_argument("--batch-size", type=int, default=None, help="default 16 on CPU, 64 on CUDA")
    parser.add_argument("--workers", type=int, default=None, help="DataLoader workers (default 1 on CPU, 8 on CUDA)")
    parser.add_argument("--augment", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=None, help="timed steps per rate (default 6 CPU, 40 CUDA)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 2 CPU, 10 CUDA)")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    gpu = device.type == "cuda"
    args.input_size = args.input_size or (256 if gpu else 128)
    args.batch_size = args.batch_size or (64 if gpu else 16)
    args.workers = args.workers if args.workers is not None else (8 if gpu else 1)
    args.steps = args.steps or (40 if gpu else 6)
    args.warmup = args.warmup if args.warmup is not None else (10 if gpu else 2)
    models = args.models or (GPU_MODELS if gpu else CPU_MODELS)

    print(f"torch {torch.__version__}, {device_label(device)}; data {' + '.join(args.data)}, "
          f"{args.input_size} px, batch {args.batch_size}, {args.workers} workers, encoding {args.encoding}")
    print()
    print("| model | params | data img/s | compute img/s | train img/s |" + (" peak GiB |" if gpu else ""))
    print("|---|---:|---:|---:|---:|" + ("---:|" if gpu else ""))
    for name in models:
        r = measure(name, args, device)
        line = (f"| {name} | {r['params'] / 1e6:.2f}M | {r['data']:.1f} | {r['compute']:.1f} | "
                f"{r['train']:.1f} |")
        if gpu:
            line += f" {r['peak_gib']:.1f} |"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
