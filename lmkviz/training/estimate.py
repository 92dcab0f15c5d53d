"""How long a run takes on this machine, before it starts: measured throughput and an estimate.

A promise such as "about two minutes on a laptop" is wrong on a busy or a slower
machine. The Train page shows an estimate computed from what this machine does now:

* :func:`time_training` times a few real optimiser steps
  (:func:`~lmkviz.training.loop.train_step`) of the config's model at its input size
  on its device, and the loading of a few training images, and returns a
  :class:`Throughput`. Measurements are kept in ``throughput.json`` in lmkviz's home
  folder (:func:`lmkviz.settings.home`), one per :func:`throughput_key` (model, input
  size, batch, device), so they are taken once.
* :func:`past_throughput` reads the images per second that earlier runs with the same
  model, input size and kind of device logged (``metrics.jsonl``).
* :func:`estimate` turns a throughput into the duration of a config: training epochs,
  validation passes and the start-up of the background process.
* :func:`cpu_warning` says when a run is too heavy for a CPU, and what to change.

Throughput on a shared CPU varies with the load of the moment (a run that logged 13
images/s may log 3 when other jobs start), so every estimate says where its number
comes from.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Sequence

from lmkviz.training.config import TrainConfig

__all__ = ["STARTUP_S", "HEAVY_CPU_S", "Throughput", "Estimate", "throughput_key", "device_kind",
           "time_training", "cached_throughput", "store_throughput", "past_throughput", "estimate",
           "cpu_warning", "format_duration"]

STARTUP_S = 15.0
"""Seconds a background job needs before its first step (a new Python process importing
torch, building datasets and the model); measured 8-20 s on a 2-core machine."""

HEAVY_CPU_S = 30 * 60.0
"""Runs estimated longer than this on a CPU get a warning (:func:`cpu_warning`)."""

VALIDATION_COST = 0.4
"""Seconds of a validation image relative to a training image: a forward pass (about a
third of forward + backward + update) plus the decoders and the metrics."""

TIMED_BATCH = 8
"""At most this many images per timed step (a small batch is enough to measure the cost per image)."""


@dataclass(frozen=True)
class Throughput:
    """How fast this machine trains one config.

    images_per_s: training images per second of the optimiser steps alone (forward,
    loss, backward, update); load_s: seconds to load and augment one training image
    (0 when unknown, e.g. an earlier run, whose rate already includes loading);
    source: "timed" (measured here) or "run" (logged by an earlier run); detail: what
    was measured, for a person; measured_at: ``time.time()`` of the measurement.
    """

    images_per_s: float
    source: str
    detail: str
    measured_at: float
    load_s: float = 0.0

    @property
    def seconds_per_image(self) -> float:
        """Training seconds per image, loading included (loading in the same process when the
        run has no worker processes: the conservative case)."""
        return 1.0 / max(self.images_per_s, 1e-9) + self.load_s

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Estimate:
    """How long a run takes: total seconds, split into start-up, training and validation."""

    total_s: float
    startup_s: float
    train_s: float
    val_s: float
    epochs: int
    throughput: Throughput

    @property
    def per_epoch_s(self) -> float:
        return (self.train_s + self.val_s) / max(1, self.epochs)


def device_kind(device: str) -> str:
    """"cpu", "cuda:0", "mps": the device a config's ``device`` ("auto", "cuda", ...) resolves to here."""
    from lmkviz.devices import resolve_device

    resolved = resolve_device(device)
    return f"cuda:{resolved.index or 0}" if resolved.type == "cuda" else resolved.type


def throughput_key(config: TrainConfig) -> str:
    """"hrnet18_small|128|8|cpu": what a timing depends on (model and its options, input size,
    batch size up to :data:`TIMED_BATCH`, resolved device)."""
    options = ",".join(f"{k}={v}" for k, v in sorted(config.model_kwargs.items()))
    model = config.model + (f"[{options}]" if options else "")
    batch = min(config.batch_size, TIMED_BATCH)  # what is timed (larger batches cost the same per image)
    return f"{model}|{config.input_size}|{batch}|{device_kind(config.device)}"


def time_training(config: TrainConfig, *, steps: int = 2, num_points: int = 68, load_samples: int = 3,
                  step_s: float = 2.0) -> Throughput:
    """Time ``steps`` real optimiser steps of ``config``'s model on its device (after a
    one-image warm-up step) and the loading of ``load_samples`` training images.

    The steps use random images at the config's input size and random points (the cost
    of a step does not depend on the pixels), with the config's encoding, loss,
    ``channels_last`` and autocast; the model has no pretrained weights (same cost, no
    download). Each timed step has up to :data:`TIMED_BATCH` images (the batch size if
    smaller), fewer when the warm-up says that a step would take more than ``step_s``
    seconds, and a slow first step is not repeated: timing a heavy model on a busy CPU
    takes a few seconds, not a minute. Loading is timed on the config's own training
    data when it opens (0 otherwise). Raises ValueError for a config that cannot be
    built (the message says why).
    """
    import torch

    from lmkviz.devices import resolve_device
    from lmkviz.training.build import build_model, make_codec
    from lmkviz.training.loop import train_step

    device = resolve_device(config.device)
    batch = max(1, min(config.batch_size, TIMED_BATCH))
    timed = config.replace(pretrained=False)
    generator = torch.Generator().manual_seed(0)
    net, _ = build_model(timed, num_points)
    codec = make_codec(timed, net.stride)
    channels_last = bool(config.channels_last)
    net = net.to(device).train()
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-4)
    amp = bool(config.amp) and device.type == "cuda"
    indices = torch.arange(num_points, device=device)
    size = config.input_size

    def step(n: int) -> None:
        images = torch.rand(n, 3, size, size, generator=generator)
        points = 0.2 * size + 0.6 * size * torch.rand(n, num_points, 2, generator=generator)
        train_step(net, optimizer, {"image": images, "points": points}, codec, indices, timed, device, amp=amp,
                   channels_last=channels_last, generator=torch.Generator(device=device).manual_seed(0))
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    t0 = time.perf_counter()
    step(1)  # warm-up: allocations, kernel choices (slower than a later image: a safe guess of the cost)
    batch = max(1, min(batch, int(step_s / max(time.perf_counter() - t0, 1e-9))))
    done, seconds = 0, 0.0
    for _ in range(max(1, steps)):
        t0 = time.perf_counter()
        step(batch)
        seconds += time.perf_counter() - t0
        done += batch
        if seconds > step_s:
            break
    load_s = _time_loading(config, load_samples)
    rate = done / max(seconds, 1e-9)
    when = time.strftime("%d %b %H:%M")
    return Throughput(images_per_s=rate, source="timed", measured_at=time.time(), load_s=load_s,
                      detail=f"{done // batch} training step(s) of {batch} images of {config.model} at {size} px "
                             f"on this machine's {device_kind(config.device)}, {when}")


def _time_loading(config: TrainConfig, samples: int) -> float:
    """Seconds to load and augment one training image of ``config`` (0 when its data does not open)."""
    if samples < 1:
        return 0.0
    try:
        from lmkviz.training.build import build_datasets

        train_ds = build_datasets(config.replace(limit_val=1))[0]
        n = min(samples + 1, len(train_ds))
        train_ds[0]  # the first read opens files and caches
        t0 = time.perf_counter()
        for i in range(1, n):
            train_ds[i]
        return (time.perf_counter() - t0) / max(1, n - 1)
    except (ValueError, OSError):
        return 0.0


# ----------------------------------------------------------------------------- the cache


def _cache_path() -> Path:
    from lmkviz.settings import home

    return home() / "throughput.json"


def cached_throughput(key: str) -> Optional[Throughput]:
    """The measurement stored for ``key`` (:func:`throughput_key`), None when there is none."""
    try:
        data = json.loads(_cache_path().read_text(encoding="utf-8"))
        return Throughput(**data[key])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store_throughput(key: str, throughput: Throughput) -> None:
    """Keep a measurement for ``key`` (an unreadable cache file is replaced: it holds only timings)."""
    from lmkviz.checkpoint import atomic_write_bytes

    path = _cache_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        data = data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        data = {}
    data[key] = throughput.to_dict()
    try:
        atomic_write_bytes(path, json.dumps(data, indent=1).encode("utf-8"))
    except OSError:
        pass  # a cache: without it the next visit measures again


# ----------------------------------------------------------------------------- earlier runs


def past_throughput(runs: Sequence[tuple[TrainConfig, Sequence[dict], str]], config: TrainConfig) -> Optional[Throughput]:
    """The training rate that earlier runs logged for the same model, input size and device.

    runs: (config, epoch records of ``metrics.jsonl``, run name) of earlier runs, newest
    first. The newest run with the same model, model options, input size and resolved
    device that finished at least one epoch gives the median ``images_per_s`` of its
    epochs (it includes data loading). None when there is no such run.
    """
    kind = device_kind(config.device)
    for other, epochs, name in runs:
        if (other is None or other.model != config.model or other.input_size != config.input_size
                or dict(other.model_kwargs) != dict(config.model_kwargs)):
            continue
        try:
            if device_kind(other.device) != kind:
                continue
        except ValueError:
            continue
        rates = [float(r["images_per_s"]) for r in epochs
                 if isinstance(r.get("images_per_s"), (int, float)) and math.isfinite(r["images_per_s"])
                 and r["images_per_s"] > 0]
        if rates:
            when = max((float(r.get("time", 0)) for r in epochs), default=0.0)
            return Throughput(images_per_s=statistics.median(rates), source="run", measured_at=when,
                              detail=f"median of {len(rates)} epoch(s) of run {name}")
    return None


# ----------------------------------------------------------------------------- the estimate


def estimate(config: TrainConfig, train_images: int, val_images: int, throughput: Throughput,
             startup_s: float = STARTUP_S) -> Estimate:
    """How long ``config`` runs with ``throughput``: start-up, then each epoch trains on
    ``train_images`` (whole batches: the last incomplete one is dropped) and validates on
    ``val_images``."""
    batch = max(1, min(config.batch_size, max(1, train_images)))
    per_epoch_train = (train_images // batch) * batch
    per_image = throughput.seconds_per_image
    train_s = config.epochs * per_epoch_train * per_image
    val_per_image = VALIDATION_COST / max(throughput.images_per_s, 1e-9) + throughput.load_s
    val_s = config.epochs * val_images * val_per_image
    return Estimate(total_s=startup_s + train_s + val_s, startup_s=startup_s, train_s=train_s, val_s=val_s,
                    epochs=config.epochs, throughput=throughput)


def cpu_warning(config: TrainConfig, result: Estimate) -> Optional[str]:
    """A warning when a run on the CPU is estimated above :data:`HEAVY_CPU_S`, saying what would
    make it lighter; None otherwise (GPU runs, light runs)."""
    if device_kind(config.device) != "cpu" or result.total_s < HEAVY_CPU_S:
        return None
    lighter = []
    if config.input_size > 128:
        lighter.append(f"a smaller input size (128 px instead of {config.input_size})")
    if config.model not in ("hrnet18_small", "unet_resnet18_small"):
        lighter.append("a small model (hrnet18_small)")
    lighter += ["fewer epochs", "fewer training images (Advanced)"]
    return (f"On this CPU the run takes about {format_duration(result.total_s)} "
            f"({format_duration(result.per_epoch_s)} per epoch). It runs in the background and survives a closed "
            f"tab, but for a quicker result use a GPU, or " + ", ".join(lighter) + ".")


def format_duration(seconds: float) -> str:
    """"45 s", "12 min", "3 h 20 min", "2 days 4 h": a duration rounded for a person."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    if seconds < 90:
        return f"{max(1, round(seconds / 5) * 5 if seconds > 10 else round(seconds))} s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{round(minutes)} min"
    hours, rest = divmod(round(minutes), 60)
    if hours < 48:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} days {hours} h" if hours else f"{days} days"
