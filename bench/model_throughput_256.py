"""CPU training throughput at 256 px and below: which model, size, batch and layout to train.

    python bench/model_throughput_256.py                  # the default table (~10 min on 2 cores)
    python bench/model_throughput_256.py --rounds 2 --batches 16
    python bench/model_throughput_256.py --configs "effnet_lite0_fpn@256" "hrnet18_small@128"

Measures images per second of one training step (forward, MSE loss on the heatmaps,
backward, AdamW step; fp32, training mode, synthetic data) at each batch size, with
and without ``channels_last``, for each configuration ``spec@size``: a registry name
with optional factory keyword arguments (``name:key=value,...``) and an input side.
The pseudo-argument ``freeze=N`` freezes the encoder's stem and first N blocks
(``requires_grad`` False), which spares their backward pass.

The machine may be shared: every configuration is timed in each of ``--rounds``
rounds, the rounds interleaving all configurations, so that a slow spell hits them
alike. The table shows the median and the best round and, per row, the ratio of its
median to the reference configuration's median of the same round (then the median of
those ratios), which is steadier than the absolute numbers. Runs on 2 threads by
default with ``OMP_WAIT_POLICY=PASSIVE`` (set before torch loads).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import ast  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lmkviz import models  # noqa: E402

DEFAULT_CONFIGS = [
    "hrnet18_small@128",
    "effnet_lite0_fpn@256",
    "effnet_lite0_fpn@224",
    "effnet_lite0_fpn@192",
    "effnet_lite0_fpn:freeze=3@256",
]


def parse_config(config: str) -> tuple[str, dict, int, int]:
    """'name:key=value,...@size' -> (name, factory kwargs, size, blocks to freeze)."""
    spec, _, size = config.rpartition("@")
    if not spec:
        raise ValueError(f"{config!r}: expected 'name[:key=value,...]@size'")
    name, _, rest = spec.partition(":")
    kwargs = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        try:
            kwargs[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            kwargs[key] = value
    freeze = int(kwargs.pop("freeze", 0))
    return name, kwargs, int(size), freeze


def freeze_encoder_start(model: torch.nn.Module, blocks: int) -> int:
    """Set requires_grad False on the encoder's stem and first ``blocks`` blocks
    (models with ``encoder.stem_*`` and ``encoder.blocks``); returns the frozen count."""
    encoder = model.encoder
    frozen = [encoder.stem_conv, encoder.stem_bn, *encoder.blocks[:blocks]]
    count = 0
    for module in frozen:
        for p in module.parameters():
            p.requires_grad_(False)
            count += p.numel()
    return count


@dataclass
class Case:
    label: str
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    images: torch.Tensor
    target: torch.Tensor
    rates: list = field(default_factory=list)

    def step(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss = F.mse_loss(self.model(self.images), self.target)
        loss.backward()
        self.optimizer.step()

    def time(self, steps: int) -> float:
        """Images per second over ``steps`` consecutive steps."""
        start = time.perf_counter()
        for _ in range(steps):
            self.step()
        return steps * self.images.shape[0] / (time.perf_counter() - start)


def build_case(config: str, batch: int, channels_last: bool, points: int) -> Case:
    name, kwargs, size, freeze = parse_config(config)
    kwargs.setdefault("pretrained", False)
    torch.manual_seed(0)
    model = models.create(name, points, **kwargs).train()
    if freeze:
        freeze_encoder_start(model, freeze)
    images = torch.rand(batch, 3, size, size)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        shape = model(images[:1]).shape[1:]
    target = torch.rand(batch, *shape) * 0.1
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4, weight_decay=1e-4)
    label = f"{config} b{batch}{' cl' if channels_last else ''}"
    case = Case(label, model, optimizer, images, target)
    case.step()  # warm-up: allocations, oneDNN primitive creation, AdamW state
    return case


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=DEFAULT_CONFIGS,
                        help="'name[:key=value,...]@size'; the first is the reference")
    parser.add_argument("--batches", nargs="+", type=int, default=[32, 16])
    parser.add_argument("--layouts", nargs="+", choices=["cl", "nchw"], default=["cl", "nchw"])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    parser.add_argument("--steps", type=int, default=2, help="training steps per timing")
    parser.add_argument("--points", type=int, default=68, help="number of heatmaps K")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, K={args.points}, fp32, "
          f"AdamW, {args.rounds} rounds x {args.steps} steps, interleaved", flush=True)
    start = time.perf_counter()
    cases = []
    for batch in args.batches:
        for config in args.configs:
            for layout in args.layouts:
                cases.append(build_case(config, batch, layout == "cl", args.points))
    print(f"built and warmed up {len(cases)} cases in {time.perf_counter() - start:.0f} s",
          flush=True)

    for r in range(args.rounds):
        for case in cases:
            case.rates.append(case.time(args.steps))
        print(f"round {r + 1}/{args.rounds} done at {time.perf_counter() - start:.0f} s",
              flush=True)

    reference = cases[0]
    ratios = {c.label: statistics.median(a / b for a, b in zip(c.rates, reference.rates))
              for c in cases}
    width = max(len(c.label) for c in cases)
    header = (f"{'configuration':<{width}} {'params':>7} {'median img/s':>12} "
              f"{'best img/s':>10} {'x ref':>6}")
    print(f"\nreference (x ref = 1): {reference.label}")
    print(header)
    print("-" * len(header))
    for case in cases:
        trainable = models.count_parameters(case.model, trainable_only=True)
        print(f"{case.label:<{width}} {trainable / 1e6:6.2f}M "
              f"{statistics.median(case.rates):12.1f} {max(case.rates):10.1f} "
              f"{ratios[case.label]:6.2f}")
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
