"""The training engine: config, run folders, losses, the loop, resume, DDP.

One run lives in one folder, ``runs/<timestamp>-<name>/``::

    config.json     the TrainConfig
    status.json     state (queued/running/done/failed/stopped), epoch, step, ETA, error
    metrics.jsonl   one JSON object per logged step ({"kind": "step", ...}) and per
                    epoch ({"kind": "epoch", "train_loss", "val_loss", "val_nme": {...}})
    train.log       human-readable log
    preview.npz     a few fixed validation images with their predictions (each epoch)
    last.pt         checkpoint after every epoch (with optimiser/scheduler/RNG state)
    best.pt         checkpoint of the epoch with the best validation NME

Every file is replaced atomically, so a process killed at any moment (even with
SIGKILL) leaves the previous complete version. ``train(config, resume=run_dir)``
continues from ``last.pt``: the interrupted epoch is redone from its start with
the same data order and augmentation draws.

Heatmaps are encoded per batch on the training device with the vectorised
encoders of :mod:`lmkviz.encoding`; losses are MSE for Gaussian targets and
BCE-with-logits with ``pos_weight`` for binary ones.

Runs under ``torchrun --nproc_per_node N python -m lmkviz train ...`` use
DistributedDataParallel (NCCL on GPUs, gloo on CPU); rank 0 writes the run folder.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import platform
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lmkviz import checkpoint as ckpt
from lmkviz import metrics
from lmkviz.decoding import DECODERS, flip_heatmaps
from lmkviz.encoding import ENCODINGS, HeatmapCodec

log = logging.getLogger("lmkviz.training")

STATES = ("queued", "running", "done", "failed", "stopped")
RUNS_ROOT = Path("runs")


# ----------------------------------------------------------------------------- config

@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (saved as ``config.json``).

    data: training datasets (LaPa-layout folders, discovered dataset names, or
        "synthetic"); their ``train_split`` splits are concatenated.
    val_data: dataset for validation (default: the first of ``data``).
    landmarks: subset spec ("all", "blog5", a group name, "36,45,48-54").
    model: an architecture of :data:`lmkviz.models.ARCHITECTURES`.
    encoding: "gaussian" (sub-pixel, MSE), "gaussian_int" (integer centre, MSE)
        or "binary" (randomized rounding, BCE-with-logits with ``pos_weight``).
    sigma: Gaussian sigma in heatmap pixels.
    input_size: square network input side in pixels.
    heatmap_size: heatmap side; None = input_size / the model's stride. For
        U-Nets it selects the stride (1, 2 or 4); HRNet is fixed at stride 4.
    schedule: "onecycle" (cosine one-cycle, ``lr`` is the peak) or "constant".
    augment: augmentation strength in [0, 1] (0 = resize only).
    device: "auto" (cuda > mps > cpu), "cuda", "cuda:1", "mps" or "cpu".
    amp: bfloat16 autocast on CUDA (ignored elsewhere).
    limit_train / limit_val: use only the first n samples (quick demos, tests).
    log_every: log a step line every n optimiser steps.
    """

    name: str = "run"
    data: tuple[str, ...] = ("synthetic",)
    train_split: str = "train"
    val_data: Optional[str] = None
    val_split: str = "val"
    landmarks: str = "all"
    model: str = "hrnet18_small"
    model_kwargs: dict = field(default_factory=dict)
    pretrained: bool = False
    encoding: str = "gaussian"
    sigma: float = 2.0
    pos_weight: float = 100.0
    input_size: int = 128
    heatmap_size: Optional[int] = None
    epochs: int = 10
    batch_size: int = 16
    lr: float = 2e-3
    schedule: str = "onecycle"
    weight_decay: float = 1e-4
    augment: float = 1.0
    device: str = "auto"
    amp: bool = True
    channels_last: bool = True
    seed: int = 0
    workers: int = 2
    limit_train: Optional[int] = None
    limit_val: Optional[int] = None
    log_every: int = 10
    preview: int = 4

    def __post_init__(self) -> None:
        if isinstance(self.data, str):
            object.__setattr__(self, "data", (self.data,))
        object.__setattr__(self, "data", tuple(str(d) for d in self.data))
        errors = []
        if not self.data:
            errors.append("data: give at least one training dataset")
        if self.encoding not in ENCODINGS:
            errors.append(f"encoding: {self.encoding!r} is not one of {', '.join(ENCODINGS)}")
        if self.schedule not in ("onecycle", "constant"):
            errors.append(f"schedule: {self.schedule!r} is not 'onecycle' or 'constant'")
        for name in ("epochs", "batch_size", "input_size", "log_every"):
            if int(getattr(self, name)) < 1:
                errors.append(f"{name}: must be >= 1, got {getattr(self, name)}")
        if self.workers < 0:
            errors.append(f"workers: must be >= 0, got {self.workers}")
        if not self.sigma > 0:
            errors.append(f"sigma: must be > 0, got {self.sigma}")
        if not self.lr > 0:
            errors.append(f"lr: must be > 0, got {self.lr}")
        if not 0 <= self.augment <= 1:
            errors.append(f"augment: must be in [0, 1], got {self.augment}")
        if self.heatmap_size is not None and self.heatmap_size < 1:
            errors.append(f"heatmap_size: must be >= 1, got {self.heatmap_size}")
        if errors:
            raise ValueError("invalid training config: " + "; ".join(errors))

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["data"] = list(self.data)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """Build from a dict; an unknown or mistyped field is a ValueError naming it."""
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"unknown training config field(s): {', '.join(unknown)}")
        clean = {}
        for key, value in data.items():
            default = names[key].default
            try:
                if key == "data":
                    value = tuple(value) if isinstance(value, (list, tuple)) else (str(value),)
                elif key == "model_kwargs":
                    if not isinstance(value, dict):
                        raise TypeError("expected an object")
                elif value is None:
                    pass
                elif isinstance(default, bool):
                    if not isinstance(value, bool):
                        raise TypeError("expected true or false")
                elif isinstance(default, int) or key in ("heatmap_size", "limit_train", "limit_val"):
                    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
                        raise TypeError("expected an integer")
                    value = int(value)
                elif isinstance(default, float):
                    if isinstance(value, bool) or not isinstance(value, (int, float)):
                        raise TypeError("expected a number")
                    value = float(value)
                elif isinstance(default, str) or key == "val_data":
                    if not isinstance(value, str):
                        raise TypeError("expected text")
            except (TypeError, ValueError) as err:
                raise ValueError(f"training config field {key!r}: {err} (got {value!r})") from None
            clean[key] = value
        return cls(**clean)

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"training config is not valid JSON: {err}") from None
        if not isinstance(data, dict):
            raise ValueError("training config must be a JSON object")
        return cls.from_dict(data)

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


PRESETS: dict[str, TrainConfig] = {
    "quick-demo": TrainConfig(
        name="quick-demo", data=("synthetic",), model="hrnet18_small", encoding="gaussian",
        sigma=1.5, input_size=128, epochs=12, batch_size=16, lr=3e-3, limit_train=128,
        limit_val=32, workers=0, augment=0.5, log_every=2,
    ),
    "blog-unet": TrainConfig(
        name="blog-unet", model="unet_resnet18", encoding="gaussian_int", sigma=10.0,
        input_size=256, heatmap_size=256, epochs=10, batch_size=24, lr=1e-3, augment=1.0,
        pretrained=True,
    ),
    "blog-hrnet": TrainConfig(
        name="blog-hrnet", model="hrnet18", encoding="binary", input_size=256, heatmap_size=64,
        epochs=10, batch_size=24, lr=5e-3, pos_weight=100.0, augment=1.0,
    ),
}
"""Starting points for the Train page and ``lmkviz train --preset``."""

PRESET_LABELS = {
    "quick-demo": "Quick CPU demo",
    "blog-unet": "Blog: UNet-ResNet18, Gaussian + MSE",
    "blog-hrnet": "Blog: HRNet-18, binary + BCE",
}


def resolve_device(name: str = "auto") -> torch.device:
    """"auto" -> cuda > mps > cpu; anything else is passed to ``torch.device`` and checked."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda was asked for but no CUDA GPU is available; use --device auto or cpu")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device mps was asked for but is not available; use --device auto or cpu")
    return device


def device_label(device: torch.device) -> str:
    """Human-readable name: "CPU (8 threads)" or the GPU's name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({torch.get_num_threads()} threads, {platform.processor() or platform.machine()})"


# ----------------------------------------------------------------------------- losses

def heatmap_loss(pred: torch.Tensor, target: torch.Tensor, encoding: str, pos_weight: float = 100.0) -> torch.Tensor:
    """Loss between predicted and target heatmaps, both (N, K, H, W).

    Gaussian encodings: mean squared error. Binary: BCE-with-logits where each
    target 1 weighs ``pos_weight`` (one positive cell among H*W per map).
    Points without a target (all-zero maps from NaN points) still count as
    "no landmark here" for binary maps; for Gaussians they pull towards zero.
    """
    pred = pred.float()
    if encoding == "binary":
        weight = pred.new_tensor(pos_weight)
        return F.binary_cross_entropy_with_logits(pred, target.float(), pos_weight=weight)
    return F.mse_loss(pred, target.float())


# ----------------------------------------------------------------------------- run folder

def atomic_write_text(path: Path, text: str) -> None:
    ckpt.atomic_write_bytes(path, text.encode("utf-8"))


def read_json(path: Path) -> Optional[dict]:
    """A JSON file's object, or None when missing or unreadable."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def new_run_dir(name: str, root: Path | str = RUNS_ROOT) -> Path:
    """A fresh ``root/<YYYYmmdd-HHMMSS>-<name>`` folder (suffixed when taken)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip("-") or "run"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(1000):
        path = root / (f"{stamp}-{safe}" if i == 0 else f"{stamp}-{safe}-{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot create a run folder in {root}")


class RunFolder:
    """Reads and writes the files of one run folder (see the module docstring)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    config_path = property(lambda self: self.path / "config.json")
    status_path = property(lambda self: self.path / "status.json")
    metrics_path = property(lambda self: self.path / "metrics.jsonl")
    log_path = property(lambda self: self.path / "train.log")
    preview_path = property(lambda self: self.path / "preview.npz")
    last_path = property(lambda self: self.path / "last.pt")
    best_path = property(lambda self: self.path / "best.pt")
    stop_path = property(lambda self: self.path / "STOP")

    def config(self) -> TrainConfig:
        if not self.config_path.exists():
            raise ValueError(f"{self.path}: not a run folder (no config.json)")
        return TrainConfig.from_json(self.config_path.read_text(encoding="utf-8"))

    def write_config(self, config: TrainConfig) -> None:
        atomic_write_text(self.config_path, config.to_json())

    def status(self) -> dict:
        return read_json(self.status_path) or {}

    def write_status(self, **fields: Any) -> dict:
        status = self.status()
        status.update(fields)
        status["updated"] = time.time()
        atomic_write_text(self.status_path, json.dumps(status, indent=2))
        return status

    def append_metrics(self, record: dict) -> None:
        line = json.dumps(record, allow_nan=True) + "\n"
        with open(self.metrics_path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()

    def metrics(self) -> list[dict]:
        """All complete metric records (a torn last line from a kill is ignored)."""
        records = []
        try:
            with open(self.metrics_path, encoding="utf-8") as f:
                for line in f:
                    try:
                        records.append(json.loads(line))
                    except ValueError:
                        continue
        except FileNotFoundError:
            pass
        return records

    def stop_requested(self) -> bool:
        return self.stop_path.exists()


# ----------------------------------------------------------------------------- data

def _scheme_info(split) -> tuple[Any, int]:
    from lmkviz.data.schemes import scheme_for

    k = int(getattr(split, "num_points", 0) or split[0].points.shape[0])
    return scheme_for(k), k


def build_datasets(config: TrainConfig):
    """(train_dataset, val_dataset, scheme, indices) for a config.

    Datasets yield full point sets (the subset is taken in the loop, after flips).
    """
    from lmkviz.data import LandmarkDataset, open_split
    from lmkviz.data.augment import AugmentConfig, build_transform
    from lmkviz.data.schemes import parse_subset

    train_splits = [open_split(d, config.train_split) for d in config.data]
    val_split = open_split(config.val_data or config.data[0], config.val_split)
    scheme, k = _scheme_info(train_splits[0])
    for d, s in zip(config.data[1:], train_splits[1:]):
        if _scheme_info(s)[1] != k:
            raise ValueError(f"dataset {d!r} has {_scheme_info(s)[1]} points per face, but {config.data[0]!r} has {k}")
    if _scheme_info(val_split)[1] != k:
        raise ValueError(f"validation data has {_scheme_info(val_split)[1]} points per face, training data {k}")
    indices = parse_subset(scheme, config.landmarks)
    aug = AugmentConfig(input_size=config.input_size, strength=config.augment)
    flip_perm = scheme.flip_perm
    train_tf = build_transform(aug, flip_perm=flip_perm, train=config.augment > 0)
    val_tf = build_transform(aug, flip_perm=flip_perm, train=False)
    parts = [LandmarkDataset(s, transform=train_tf) for s in train_splits]
    train_ds = parts[0] if len(parts) == 1 else torch.utils.data.ConcatDataset(parts)
    val_ds = LandmarkDataset(val_split, transform=val_tf)
    if config.limit_train:
        train_ds = torch.utils.data.Subset(train_ds, range(min(config.limit_train, len(train_ds))))
    if config.limit_val:
        val_ds = torch.utils.data.Subset(val_ds, range(min(config.limit_val, len(val_ds))))
    if len(train_ds) == 0 or len(val_ds) == 0:
        raise ValueError("training or validation split is empty; check the dataset with `lmkviz data check`")
    return train_ds, val_ds, scheme, indices


def make_codec(config: TrainConfig, stride: int) -> HeatmapCodec:
    hm = config.heatmap_size or max(1, config.input_size // stride)
    return HeatmapCodec(image_size=config.input_size, heatmap_size=hm, encoding=config.encoding, sigma=config.sigma)


def build_model(config: TrainConfig, num_points: int) -> tuple[nn.Module, dict]:
    """The model for a config and the kwargs that rebuild it from a checkpoint."""
    from lmkviz import models

    kwargs = dict(config.model_kwargs)
    if config.model.startswith("unet") and config.heatmap_size:
        stride = config.input_size // config.heatmap_size
        if stride * config.heatmap_size != config.input_size or stride not in (1, 2, 4):
            raise ValueError(
                f"heatmap_size {config.heatmap_size} with input_size {config.input_size} needs stride "
                f"{config.input_size / config.heatmap_size:g}; U-Nets support strides 1, 2 and 4"
            )
        kwargs["stride"] = stride
    net = models.create(config.model, num_points, pretrained="auto" if config.pretrained else False, **kwargs)
    if config.heatmap_size and config.input_size // net.stride != config.heatmap_size:
        raise ValueError(
            f"model {config.model} outputs {config.input_size // net.stride} px heatmaps for "
            f"{config.input_size} px inputs (stride {net.stride}), not {config.heatmap_size}; "
            "change heatmap_size or input_size"
        )
    return net, kwargs


# ----------------------------------------------------------------------------- evaluation

@torch.no_grad()
def evaluate_heatmaps(
    model: nn.Module,
    loader,
    codec: HeatmapCodec,
    indices: Sequence[int],
    eye_corners: Optional[tuple[int, int]],
    device: torch.device,
    *,
    pos_weight: float = 100.0,
    flip_perm: Optional[Sequence[int]] = None,
    amp: bool = False,
    channels_last: bool = False,
    progress: Optional[Callable[[int, int], None]] = None,
) -> dict:
    """Validation loss and per-image NME for each decoder over a loader.

    The NME is measured in the network's input space with the inter-ocular
    distance of the full target point set (so subsets can be scored). With
    ``flip_perm`` the heatmaps of the mirrored image are mirrored back and
    averaged (flip test). Returns {"loss": float, "nme": {decoder: (M,) tensor},
    "pred": {decoder: (M, k, 2)}, "target": (M, k, 2)}.
    """
    model.eval()
    idx = torch.as_tensor(list(indices), device=device)
    losses, per_image, preds, targets = [], {m: [] for m in DECODERS}, {m: [] for m in DECODERS}, []
    total = len(loader)
    for step, batch in enumerate(loader):
        images = batch["image"].to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        full = batch["points"].to(device)
        target = full[:, idx]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
            out = model(images).float()
            sub_perm = _subset_flip_perm(flip_perm, indices) if flip_perm is not None else None
            if sub_perm is not None:
                mirrored = model(images.flip(-1)).float()
                out_flipped = flip_heatmaps(mirrored, sub_perm)
                # average in the codec's output space (probabilities for logits)
                if codec.outputs_logits:
                    out = torch.logit((torch.sigmoid(out) + torch.sigmoid(out_flipped)) / 2, eps=1e-6)
                else:
                    out = (out + out_flipped) / 2
        maps = codec.encode(target)
        losses.append(heatmap_loss(out, maps, codec.encoding, pos_weight).item() * len(images))
        norm = metrics.interocular(full, eye_corners) if eye_corners is not None else None
        for m in DECODERS:
            p = codec.decode(out, m)
            preds[m].append(p.cpu())
            if norm is not None:
                per_image[m].append(metrics.nme(p, target, norm=norm).cpu())
        targets.append(target.cpu())
        if progress:
            progress(step + 1, total)
    n = sum(len(t) for t in targets)
    return {
        "loss": sum(losses) / max(n, 1),
        "nme": {m: torch.cat(v) if v else torch.empty(0) for m, v in per_image.items()},
        "pred": {m: torch.cat(v) for m, v in preds.items()},
        "target": torch.cat(targets),
    }


def _subset_flip_perm(flip_perm: Sequence[int], indices: Sequence[int]) -> Optional[list[int]]:
    """Flip permutation restricted to a landmark subset (None if a partner is missing)."""
    pos = {j: i for i, j in enumerate(indices)}
    try:
        return [pos[flip_perm[j]] for j in indices]
    except KeyError:
        return None


# ----------------------------------------------------------------------------- the loop

def checkpoint_payload(net: nn.Module, config: TrainConfig, model_kwargs: dict, codec: HeatmapCodec,
                       scheme, indices: Sequence[int], summary: dict) -> dict:
    """The checkpoint dict of :mod:`lmkviz.checkpoint` for a model (weights copied to CPU)."""
    return {
        "format": ckpt.FORMAT, "version": ckpt.VERSION,
        "model": {"name": config.model, "num_points": len(indices), "kwargs": dict(model_kwargs)},
        "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
        "codec": codec.to_dict(),
        "scheme": {"name": scheme.name, "num_points": scheme.num_points, "indices": list(indices),
                   "flip_perm": list(scheme.flip_perm) if scheme.flip_perm else None},
        "config": config.to_dict(),
        "summary": dict(summary),
    }


class StopTraining(Exception):
    """Raised inside the loop when a stop was requested (SIGTERM / STOP file)."""


class NonFiniteLoss(Exception):
    pass


def _rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state(), "python": list(random.getstate()[1])}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _setup_logging(run: Optional[RunFolder], rank: int) -> logging.Handler | None:
    log.setLevel(logging.INFO)
    if rank != 0 or run is None:
        return None
    handler = logging.FileHandler(run.log_path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    log.addHandler(handler)
    if not any(isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler) for h in log.handlers):
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(console)
    return handler


def _dist_info() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return world, rank, local


def _should_stop(stop_flag: dict, run: RunFolder, distributed: bool, device: torch.device) -> bool:
    """A stop was asked for (signal or STOP file); under DDP all ranks agree, so
    that none of them is left waiting in a collective."""
    stop = stop_flag["stop"] or run.stop_requested()
    if distributed:
        flag = torch.tensor([1.0 if stop else 0.0], device=device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        stop = bool(flag.item())
    return stop


def _init_distributed(config: TrainConfig) -> None:
    """Join the process group started by torchrun (NCCL on GPUs, gloo on CPU)."""
    if torch.distributed.is_initialized():
        return
    device = resolve_device(config.device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    torch.distributed.init_process_group(backend=backend)


def _fmt_eta(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def train(
    config: Optional[TrainConfig] = None,
    *,
    run_dir: Optional[Path | str] = None,
    resume: Optional[Path | str] = None,
    runs_root: Path | str = RUNS_ROOT,
    progress_bar: Optional[bool] = None,
) -> Path:
    """Train a model; returns the run folder.

    config: the run's settings (ignored with ``resume``, which reads config.json).
    run_dir: write into this folder (created if needed) instead of a new
        ``runs_root/<timestamp>-<name>``. resume: continue the run in this folder
        from its ``last.pt`` (or from scratch if no epoch had finished).
    progress_bar: tqdm on a terminal (default: when stderr is a TTY); plain log
        lines otherwise.

    The final state is written to ``status.json``: done, stopped (SIGTERM/SIGINT
    or a STOP file in the run folder), or failed (with the error). Errors are
    re-raised after being recorded, except a requested stop.
    """
    world, rank, local_rank = _dist_info()
    distributed = world > 1
    if resume is not None:
        run = RunFolder(resume)
        config = run.config()
    else:
        if config is None:
            raise ValueError("train() needs a config or resume=RUN_DIR")
        path = None
        if rank == 0:
            path = Path(run_dir) if run_dir is not None else new_run_dir(config.name, runs_root)
            path.mkdir(parents=True, exist_ok=True)
        if distributed:  # every rank needs the folder rank 0 created (STOP file, resume)
            _init_distributed(config)
            shared = [str(path) if path is not None else None]
            torch.distributed.broadcast_object_list(shared, src=0)
            path = Path(shared[0])
        run = RunFolder(path)
    is_main = rank == 0
    handler = _setup_logging(run if is_main else None, rank)
    stop_flag = {"stop": False}

    def _on_signal(signum, frame):  # graceful stop: finish the step, then stop
        stop_flag["stop"] = True

    old_handlers = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            old_handlers[sig] = signal.signal(sig, _on_signal)
        except ValueError:  # not in the main thread
            pass
    try:
        if is_main:
            run.write_config(config)
            run.write_status(state="running", pid=os.getpid(), started=time.time(), error=None, waiting_for=None,
                             epochs=config.epochs, host=platform.node())
        _train_loop(config, run, resume is not None, rank, world, local_rank, distributed, stop_flag, progress_bar)
        if is_main:
            run.write_status(state="done", eta_s=0)
            log.info("done: %s", run.path)
    except StopTraining:
        if is_main:
            run.write_status(state="stopped")
            log.info("stopped; resume with: python -m lmkviz train --resume %s", run.path)
    except NonFiniteLoss as err:
        if is_main:
            run.write_status(state="failed", error=str(err))
            log.error("%s", err)
        raise
    except BaseException as err:
        if is_main and run is not None:
            message = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
            run.write_status(state="failed", error=message)
            log.error("failed: %s", message)
        raise
    finally:
        for sig, old in old_handlers.items():
            signal.signal(sig, old)
        if handler is not None:
            log.removeHandler(handler)
            handler.close()
        if distributed and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    return run.path


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: dict, codec: HeatmapCodec,
               indices: torch.Tensor, config: TrainConfig, device: torch.device, *, amp: bool = False,
               channels_last: bool = False, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """One optimiser step on a DataLoader batch; returns the (detached-able) loss.

    batch: {"image": (N, 3, S, S) float, "points": (N, K_all, 2) image px}. The
    points of ``indices`` are encoded on ``device`` as targets (per batch, with
    ``generator`` for binary draws), the model runs under bfloat16 autocast when
    ``amp``, and the loss of ``config.encoding`` is back-propagated. The
    learning-rate schedule is the caller's.
    """
    images = batch["image"].to(device, non_blocking=True)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    points = batch["points"].to(device, non_blocking=True)[:, indices]
    target = codec.encode(points, generator=generator)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        out = model(images)
    loss = heatmap_loss(out, target, config.encoding, config.pos_weight)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss


def _train_loop(config, run, resuming, rank, world, local_rank, distributed, stop_flag, progress_bar):
    is_main = rank == 0
    device = resolve_device(config.device)
    if distributed:
        _init_distributed(config)
        if device.type == "cuda":
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
    _set_seed(config.seed + rank)
    amp = config.amp and device.type == "cuda"
    channels_last = config.channels_last and device.type == "cuda"
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    train_ds, val_ds, scheme, indices = build_datasets(config)
    k_full = scheme.num_points
    net, model_kwargs = build_model(config, len(indices))
    codec = make_codec(config, net.stride)
    net = net.to(device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    model = nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None) \
        if distributed else net

    batch = min(config.batch_size, len(train_ds))
    steps_per_epoch = max(1, len(train_ds) // (batch * world))
    total_steps = steps_per_epoch * config.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    if config.schedule == "onecycle" and total_steps >= 4:
        # warm up over a quarter of the run (at least 2 steps), then cosine down
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, total_steps=total_steps, pct_start=max(0.25, 2.5 / total_steps),
            div_factor=25.0, final_div_factor=1e3)
    else:
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)

    start_epoch, best, best_epoch, history_time = 0, math.inf, -1, 0.0
    if resuming and run.last_path.exists():
        data = ckpt.load(run.last_path, model=config.model, num_points=len(indices), map_location=device)
        net.load_state_dict(data["state_dict"])
        state = data.get("training_state", {})
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch = int(state["epoch"]) + 1
        best = float(state.get("best", math.inf))
        best_epoch = int(state.get("best_epoch", -1))
        history_time = float(state.get("elapsed_s", 0.0))
        rng = state.get("rng", {})
        if "torch" in rng:
            torch.set_rng_state(rng["torch"].cpu())
        if "cuda" in rng and device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"].cpu(), device)
        if is_main:
            log.info("resuming %s from epoch %d of %d", run.path, start_epoch + 1, config.epochs)
    elif is_main:
        log.info("run %s: %s on %s, %d training / %d validation images, %d of %d landmarks",
                 run.path.name, config.model, device_label(device), len(train_ds), len(val_ds),
                 len(indices), k_full)
        log.info("heatmaps %dx%d, encoding %s, sigma %g; %d epochs x %d steps",
                 codec.heatmap_size[0], codec.heatmap_size[1], config.encoding, config.sigma,
                 config.epochs, steps_per_epoch)

    val_loader = torch.utils.data.DataLoader(
        val_ds, batch_size=max(1, min(config.batch_size, len(val_ds))), shuffle=False,
        num_workers=config.workers, pin_memory=device.type == "cuda",
        persistent_workers=False)
    idx_t = torch.as_tensor(list(indices), device=device)
    encode_gen = torch.Generator(device=device)
    show_bar = sys.stderr.isatty() if progress_bar is None else progress_bar
    epoch_times: list[float] = []
    t_run = time.time()

    for epoch in range(start_epoch, config.epochs):
        if distributed:
            sampler = torch.utils.data.distributed.DistributedSampler(
                train_ds, num_replicas=world, rank=rank, shuffle=True, seed=config.seed, drop_last=True)
            sampler.set_epoch(epoch)
            gen = torch.Generator().manual_seed(config.seed * 100_003 + epoch * 101 + rank)
            loader = torch.utils.data.DataLoader(
                train_ds, batch_size=batch, sampler=sampler, num_workers=config.workers,
                pin_memory=device.type == "cuda", drop_last=True, generator=gen,
                persistent_workers=False)
        else:
            gen = torch.Generator().manual_seed(config.seed * 100_003 + epoch * 101)
            loader = torch.utils.data.DataLoader(
                train_ds, batch_size=batch, shuffle=True, num_workers=config.workers,
                pin_memory=device.type == "cuda", drop_last=True, generator=gen,
                persistent_workers=False)
        encode_gen.manual_seed(config.seed * 7919 + epoch)
        model.train()
        t_epoch = time.time()
        running, seen = 0.0, 0
        bar = None
        if show_bar and is_main:
            from tqdm import tqdm

            bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False,
                       dynamic_ncols=True)
        for step, batch_data in enumerate(loader):
            if step >= steps_per_epoch:
                break
            if _should_stop(stop_flag, run, distributed, device):
                raise StopTraining()
            loss = train_step(model, optimizer, batch_data, codec, idx_t, config, device, amp=amp,
                              channels_last=channels_last, generator=encode_gen)
            scheduler.step()
            value = loss.detach()
            if not torch.isfinite(value):
                raise NonFiniteLoss(
                    f"loss became {value.item()} at epoch {epoch + 1}, step {step + 1}: training diverged. "
                    "Lower the learning rate (e.g. by 10x) and resume or restart; "
                    f"the last good checkpoint is {run.last_path if run else 'last.pt'}"
                )
            value = float(value)
            running += value * len(batch_data["image"])
            seen += len(batch_data["image"])
            global_step = epoch * steps_per_epoch + step + 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{value:.4g}")
            if is_main and (global_step % config.log_every == 0 or step + 1 == steps_per_epoch):
                elapsed = time.time() - t_epoch
                per_step = elapsed / (step + 1)
                epoch_est = (sum(epoch_times) / len(epoch_times)) if epoch_times else per_step * steps_per_epoch
                remaining = (steps_per_epoch - step - 1) * per_step + (config.epochs - epoch - 1) * epoch_est
                lr = scheduler.get_last_lr()[0]
                run.append_metrics({"kind": "step", "epoch": epoch + 1, "step": global_step,
                                    "loss": value, "lr": lr, "time": time.time()})
                run.write_status(state="running", epoch=epoch + 1, step=global_step,
                                 steps_per_epoch=steps_per_epoch, total_steps=total_steps,
                                 eta_s=remaining, images_per_s=seen * world / max(elapsed, 1e-9))
                if bar is None:
                    log.info("epoch %d/%d step %d/%d loss %.5g lr %.3g eta %s", epoch + 1, config.epochs,
                             step + 1, steps_per_epoch, value, lr, _fmt_eta(remaining))
        if bar is not None:
            bar.close()
        train_loss = running / max(seen, 1)
        if distributed:
            t = torch.tensor([running, float(seen)], device=device)
            torch.distributed.all_reduce(t)
            train_loss = float(t[0] / t[1].clamp_min(1))
        train_time = time.time() - t_epoch

        # validation and checkpoints on rank 0; the others wait at the barrier
        if is_main:
            result = evaluate_heatmaps(net, val_loader, codec, indices, scheme.eye_corners, device,
                                       pos_weight=config.pos_weight, amp=amp, channels_last=channels_last)
            val_nme = {m: float(v.mean() * 100) if len(v) else float("nan") for m, v in result["nme"].items()}
            primary = "topk" if codec.outputs_logits else "dark"
            score = val_nme[primary] if math.isfinite(val_nme[primary]) else result["loss"]
            epoch_times.append(time.time() - t_epoch)
            elapsed_total = history_time + (time.time() - t_run)
            improved = score < best
            if improved:
                best, best_epoch = score, epoch
            summary = {
                "epoch": epoch + 1, "epochs": config.epochs, "train_loss": train_loss,
                "val_loss": result["loss"], "val_nme": val_nme, "primary_decoder": primary,
                "best_epoch": best_epoch + 1, "best_val_nme": best if math.isfinite(best) else None,
                "train_images": len(train_ds), "val_images": len(val_ds),
                "device": device_label(device), "world_size": world, "elapsed_s": elapsed_total,
                "torch": str(torch.__version__),
            }
            payload = checkpoint_payload(net, config, model_kwargs, codec, scheme, indices, summary)
            if improved:
                ckpt.save(payload, run.best_path)
            payload["training_state"] = {
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "epoch": epoch, "best": best, "best_epoch": best_epoch, "elapsed_s": elapsed_total,
                "rng": _rng_state(device),
            }
            ckpt.save(payload, run.last_path)
            _write_preview(run, val_ds, result, codec, net, indices, config.preview, device, amp, channels_last)
            record = {"kind": "epoch", "epoch": epoch + 1, "train_loss": train_loss, "val_loss": result["loss"],
                      "val_nme": val_nme, "lr": scheduler.get_last_lr()[0], "epoch_time_s": train_time,
                      "images_per_s": seen * world / max(train_time, 1e-9), "time": time.time()}
            run.append_metrics(record)
            remaining = (config.epochs - epoch - 1) * (sum(epoch_times) / len(epoch_times))
            run.write_status(state="running", epoch=epoch + 1, step=(epoch + 1) * steps_per_epoch,
                             eta_s=remaining, best_epoch=best_epoch + 1, val_nme=val_nme)
            log.info("epoch %d/%d train loss %.5g val loss %.5g val NME %% %s (%.0fs, %.1f img/s)%s",
                     epoch + 1, config.epochs, train_loss, result["loss"],
                     " ".join(f"{m} {v:.3f}" for m, v in val_nme.items()), train_time,
                     record["images_per_s"], " *best*" if improved else "")
        if distributed:
            torch.distributed.barrier()
        if _should_stop(stop_flag, run, distributed, device):
            raise StopTraining()


def _write_preview(run, val_ds, result, codec, net, indices, count, device, amp, channels_last):
    """Save the first few validation images with targets, predictions and heatmaps."""
    count = min(count, len(val_ds))
    if count <= 0:
        return
    import io

    items = [val_ds[i] for i in range(count)]
    images = torch.stack([it["image"] for it in items]).to(device)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        maps = net(images).float()
    if codec.outputs_logits:
        maps = torch.sigmoid(maps)
    arrays = {
        "images": (images.float().cpu().permute(0, 2, 3, 1).numpy() * 255).round().clip(0, 255).astype(np.uint8),
        "target": result["target"][:count].numpy(),
        "heatmaps": maps.cpu().numpy().astype(np.float16),
        "indices": np.asarray(list(indices)),
        "image_size": np.asarray(codec.image_size),
    }
    for m, pred in result["pred"].items():
        arrays[f"pred_{m}"] = pred[:count].numpy()
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    ckpt.atomic_write_bytes(run.preview_path, buffer.getvalue())


# ----------------------------------------------------------------------------- learning-rate finder

def suggest_lr(lrs: Sequence[float], losses: Sequence[float]) -> Optional[float]:
    """The learning rate at the steepest descent of the smoothed loss curve.

    lrs, losses: the finder's record (increasing learning rates). Returns None
    when the curve is too short to tell.
    """
    lr = np.asarray(lrs, dtype=float)
    loss = np.asarray(losses, dtype=float)
    ok = np.isfinite(loss)
    lr, loss = lr[ok], loss[ok]
    if len(lr) < 5:
        return None
    # stop at the minimum's divergence: only the part before the loss blows up
    cut = int(np.argmin(loss)) + 1
    lr, loss = lr[:max(cut, 5)], loss[:max(cut, 5)]
    slope = np.gradient(loss, np.log10(lr))
    return float(lr[int(np.argmin(slope))])


def lr_find(config: TrainConfig, run_dir: Path | str, *, steps: int = 100, start_lr: float = 1e-6,
            end_lr: float = 1.0, diverge: float = 4.0) -> dict:
    """Run the learning-rate range test (as fastai's ``lr_find``) and save ``lr_find.json``.

    Trains a fresh model for up to ``steps`` mini-batches with the learning rate
    growing exponentially from ``start_lr`` to ``end_lr``; stops early when the
    smoothed loss exceeds ``diverge`` x its minimum. The run folder gets
    ``config.json``, ``status.json`` (task "lr_find") and ``lr_find.json`` =
    ``{"lr": [...], "loss": [...], "suggested": lr}``.
    """
    run = RunFolder(run_dir)
    run.path.mkdir(parents=True, exist_ok=True)
    run.write_config(config)
    run.write_status(state="running", task="lr_find", pid=os.getpid(), started=time.time(), error=None,
                     waiting_for=None, step=0, total_steps=steps)
    try:
        _set_seed(config.seed)
        device = resolve_device(config.device)
        train_ds, _, _, indices = build_datasets(config)
        net, _ = build_model(config, len(indices))
        codec = make_codec(config, net.stride)
        net = net.to(device).train()
        optimizer = torch.optim.AdamW(net.parameters(), lr=start_lr, weight_decay=config.weight_decay)
        gamma = (end_lr / start_lr) ** (1.0 / max(1, steps - 1))
        loader = torch.utils.data.DataLoader(train_ds, batch_size=min(config.batch_size, len(train_ds)),
                                             shuffle=True, num_workers=config.workers, drop_last=True,
                                             generator=torch.Generator().manual_seed(config.seed))
        idx = torch.as_tensor(list(indices), device=device)
        gen = torch.Generator(device=device).manual_seed(config.seed)
        lrs, losses, smooth, best = [], [], 0.0, math.inf
        step = 0
        while step < steps:
            for batch in loader:
                if step >= steps or run.stop_requested():
                    break
                lr = start_lr * gamma**step
                for group in optimizer.param_groups:
                    group["lr"] = lr
                images = batch["image"].to(device)
                target = codec.encode(batch["points"].to(device)[:, idx], generator=gen)
                loss = heatmap_loss(net(images), target, config.encoding, config.pos_weight)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                value = loss.item()
                smooth = 0.9 * smooth + 0.1 * value  # exponential average, debiased below
                debiased = smooth / (1 - 0.9 ** (step + 1))
                lrs.append(lr)
                losses.append(debiased if math.isfinite(value) else float("nan"))
                best = min(best, debiased)
                step += 1
                run.write_status(step=step)
                if not math.isfinite(value) or debiased > diverge * best:
                    step = steps  # diverged: the curve is complete
                    break
            if run.stop_requested():
                break
        result = {"lr": lrs, "loss": losses, "suggested": suggest_lr(lrs, losses)}
        atomic_write_text(run.path / "lr_find.json", json.dumps(result, allow_nan=True))
        run.write_status(state="stopped" if run.stop_requested() else "done", eta_s=0)
        return result
    except BaseException as err:
        run.write_status(state="failed", error=f"{type(err).__name__}: {err}")
        raise
