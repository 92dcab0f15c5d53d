"""The learning-rate range test (as fastai's ``lr_find``): train briefly with a growing
learning rate, record the loss, suggest the rate at its steepest descent."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from lmkviz import procs
from lmkviz.devices import resolve_device
from lmkviz.runs import RunFolder, atomic_write_text
from lmkviz.training.build import build_datasets, build_model, make_codec
from lmkviz.training.config import TrainConfig
from lmkviz.training.loop import set_seed, train_step

__all__ = ["lr_find", "suggest_lr", "lr_suggestions"]


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


def lr_suggestions(lrs: Sequence[float], losses: Sequence[float]) -> dict[str, float]:
    """The usual readings of a finder curve, as fastai's ``lr_find`` gives them.

    {"steepest": the rate at the steepest descent (:func:`suggest_lr`), "minimum": the
    rate of the lowest smoothed loss, "min_over_10": that rate / 10}; entries the curve
    is too short for are left out. The steepest point is a conservative choice for a
    constant rate; one-cycle training warms up to its peak and anneals, and its peak is
    usually taken near "min_over_10", often 10-50x the steepest point.
    """
    lr = np.asarray(lrs, dtype=float)
    loss = np.asarray(losses, dtype=float)
    ok = np.isfinite(loss)
    out: dict[str, float] = {}
    steepest = suggest_lr(lrs, losses)
    if steepest is not None:
        out["steepest"] = steepest
    if ok.sum() >= 5:
        lowest = float(lr[ok][int(np.argmin(loss[ok]))])
        out["minimum"] = lowest
        out["min_over_10"] = lowest / 10
    return out


def lr_find(config: TrainConfig, run_dir: Path | str, *, steps: int = 100, start_lr: float = 1e-6,
            end_lr: float = 1.0, diverge: float = 4.0) -> dict:
    """Run the learning-rate range test and save ``lr_find.json`` in ``run_dir``.

    Trains a fresh model for up to ``steps`` mini-batches (each one
    :func:`~lmkviz.training.loop.train_step`) with the learning rate growing
    exponentially from ``start_lr`` to ``end_lr``; stops early when the smoothed loss
    exceeds ``diverge`` x its minimum. The run folder gets ``config.json``,
    ``status.json`` (task "lr_find") and ``lr_find.json`` =
    ``{"lr": [...], "loss": [...], "suggested": lr}``.
    """
    run = RunFolder(run_dir)
    run.path.mkdir(parents=True, exist_ok=True)
    run.write_config(config)
    run.write_status(state="running", task="lr_find", started=time.time(), error=None,
                     waiting_for=None, step=0, total_steps=steps, **procs.identity())
    try:
        set_seed(config.seed)
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
                value = train_step(net, optimizer, batch, codec, idx, config, device, generator=gen).item()
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
        atomic_write_text(run.lr_find_path, json.dumps(result, allow_nan=True))
        run.write_status(state="stopped" if run.stop_requested() else "done", eta_s=0)
        return result
    except BaseException as err:
        run.write_status(state="failed", error=f"{type(err).__name__}: {err}")
        raise
