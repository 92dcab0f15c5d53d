"""The training loop: epochs of optimiser steps, validation, checkpoints, resume, DDP.

    path = train(TrainConfig(...))            # a new run folder under runs_root()
    train(resume=path)                        # continue it after a stop, crash or kill

:func:`train` sets up the run folder (:mod:`lmkviz.runs`), signal handling and the
final state; a :class:`Trainer` built from one :class:`TrainJob` runs the epochs.
Each epoch: optimiser steps (:func:`train_step`), then on rank 0 validation with
:func:`lmkviz.evaluation.evaluate_model` (NME in original image pixels, in fp32), and
the end of the epoch, in this order: ``preview.npz`` (and the epoch's kept copy,
``previews/epoch-NNN.npz``), the epoch record appended to
``metrics.jsonl``, ``last.pt`` (with optimiser, scheduler and RNG state and the epoch
records: replacing it *commits* the epoch), ``best.pt`` when the primary decoder's
NME improved, ``status.json``; TensorBoard event files get the same numbers
(:mod:`lmkviz.training.tensorboard`).

Resume continues from ``last.pt``: the interrupted epoch is redone from its start
with the same data order and augmentation draws, so a resumed run ends with the
same weights as an uninterrupted one. Before it starts, the run folder is brought
back to what ``last.pt`` knows (:meth:`Trainer.restore`): records of later epochs
are dropped from ``metrics.jsonl`` (they are logged again) and their kept previews
removed, an epoch record the file
lost is written from the copy ``last.pt`` carries, ``best.pt`` is rewritten when the
kill came between ``last.pt`` and ``best.pt``, and the temporary files of the killed
writer are removed. A process killed at any instant therefore resumes with exactly
one record per step and per epoch. One process at most trains in a run folder (its
lock, :meth:`lmkviz.runs.RunFolder.lock`).

A run resumes with the settings it started with: :func:`check_resume` refuses a
``config.json`` edited in ways the checkpoint cannot follow, with what to do
instead. The number of epochs may change under the constant schedule (``lmkviz
train --resume RUN --epochs N``), not under the one-cycle schedule, whose shape
depends on it.

Targets (heatmaps, or SimCC's x and y label vectors) are encoded per batch on the
training device by the run's codec (:func:`~lmkviz.training.build.make_codec`); the
loss is :func:`~lmkviz.training.build.make_run_loss` of the config, the same function
for training steps, the learning-rate finder and validation.
"""

from __future__ import annotations

import logging
import math
import platform
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import nn

from lmkviz import checkpoint as ckpt
from lmkviz import coords, procs
from lmkviz.devices import device_label, tune_for_training
from lmkviz.encoding import HeatmapCodec
from lmkviz.evaluation import Evaluation, Evaluator, evaluate_model, primary_decoder
from lmkviz.faults import kill_point
from lmkviz.files import is_disk_full
from lmkviz.runs import RunFolder, dedupe_history, new_run_dir
from lmkviz.training.build import build_datasets, build_model, make_codec, make_run_loss
from lmkviz.training.config import TrainConfig
from lmkviz.training.distributed import Distributed
from lmkviz.training.tensorboard import open_log

__all__ = ["train", "train_step", "Trainer", "TrainJob", "StopFlag", "StopTraining", "NonFiniteLoss", "set_seed",
           "ResumeError", "ResumePlan", "check_resume", "RunBusy"]

log = logging.getLogger("lmkviz.training")


class StopTraining(Exception):
    """Raised inside the loop when a stop was requested (SIGTERM / SIGINT / STOP file)."""


class NonFiniteLoss(Exception):
    """The training loss became NaN or infinite (the message says what to do)."""


class ResumeError(ValueError):
    """A run cannot continue from its ``last.pt`` (the message says why and what to do)."""


class RunBusy(ValueError):
    """Another live process already trains in this run folder."""


# settings that may differ between a checkpoint and the config.json it resumes under:
# where and how fast it runs, not what it computes
_RESUMABLE_CHANGES = ("name", "workers", "log_every", "device", "preview", "amp", "channels_last")
_TRAINING_STATE_KEYS = ("optimizer", "scheduler", "epoch")


@dataclass(frozen=True)
class ResumePlan:
    """What resuming a run does: ``epochs_done`` finished epochs (in ``last.pt``; 0 without
    one) of ``epochs``; ``nothing_to_do`` when all are done."""

    epochs_done: int
    epochs: int

    @property
    def nothing_to_do(self) -> bool:
        return self.epochs_done >= self.epochs


def _training_state(data: dict, path: Path) -> dict:
    state = data.get("training_state")
    missing = [k for k in _TRAINING_STATE_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise ResumeError(
            f"{path}: has no training state to resume from (missing: {', '.join(missing)}); it looks like an "
            "exported or copied checkpoint, not the last.pt that training writes. Put the run's own last.pt "
            "back, or start a new run")
    try:
        int(state["epoch"])
    except (TypeError, ValueError):
        raise ResumeError(f"{path}: its training state has no valid epoch; start a new run") from None
    return state


def check_resume(run: RunFolder, config: Optional[TrainConfig] = None, data: Optional[dict] = None) -> ResumePlan:
    """Whether ``run`` can continue from its ``last.pt`` under ``config`` (default: its
    config.json); raises :class:`ResumeError` saying why not and what to do.

    Refused: a ``last.pt`` without training state (an exported checkpoint), and a
    config.json that differs from the checkpoint's settings in anything but where and
    how fast it runs (``device``, ``workers``, ``log_every``, ``name``, ...). ``epochs``
    may change under the constant schedule; under the one-cycle schedule, whose
    learning-rate curve is planned for the run's length, it may only be lowered to the
    epochs already done (then there is nothing left to do).
    """
    config = run.config() if config is None else config
    if not run.last_path.exists():
        return ResumePlan(0, config.epochs)
    if data is None:
        data = ckpt.load(run.last_path, map_location="cpu")
    state = _training_state(data, run.last_path)
    done = int(state["epoch"]) + 1
    saved = data.get("config") if isinstance(data.get("config"), dict) else {}
    current = config.to_dict()
    changed = [k for k in sorted(set(saved) & set(current))
               if k not in _RESUMABLE_CHANGES + ("epochs",) and _differs(saved[k], current[k])]
    if changed:
        what = ", ".join(f"{k} ({saved[k]!r} -> {current[k]!r})" for k in changed[:6])
        raise ResumeError(
            f"{run.path.name}: config.json differs from the settings this run was trained with: {what}. "
            "A run resumes with the settings it started with: put them back in config.json, or start a new run "
            "with the new settings")
    before = saved.get("epochs", config.epochs)
    if before != config.epochs and config.epochs > done and config.schedule != "constant":
        raise ResumeError(
            f"{run.path.name}: config.json asks for {config.epochs} epochs, but this run's one-cycle learning-rate "
            f"schedule was planned for {before} and cannot be stretched or cut. Set epochs back to {before} to "
            f"resume, or start a new run with {config.epochs} epochs (a run with the constant schedule can be "
            "extended: lmkviz train --resume RUN --epochs N)")
    return ResumePlan(done, config.epochs)


def _differs(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) != list(b)
    return a != b


class StopFlag:
    """Set by the SIGTERM / SIGINT handlers of :func:`train`: finish the step, then stop."""

    def __init__(self) -> None:
        self.requested = False

    def set(self, *_: object) -> None:
        self.requested = True


@dataclass(frozen=True)
class TrainJob:
    """Everything a :class:`Trainer` needs: what to train, where, as which process.

    config: the run's settings. run: its folder. resuming: continue from ``last.pt``
    (when there is one). dist: this process under torchrun. stop: set by signal
    handlers. progress_bar: tqdm per epoch (default: when stderr is a terminal).
    """

    config: TrainConfig
    run: RunFolder
    resuming: bool = False
    dist: Distributed = Distributed()
    stop: StopFlag = field(default_factory=StopFlag)
    progress_bar: Optional[bool] = None


def set_seed(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: dict, codec: HeatmapCodec,
               indices: torch.Tensor, config: TrainConfig, device: torch.device, *, amp: bool = False,
               channels_last: bool = False, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """One optimiser step on a DataLoader batch; returns the (detached-able) loss.

    batch: {"image": (N, 3, S, S) float, "points": (N, K_all, 2) input px}. The
    points of ``indices`` are encoded on ``device`` by ``codec`` as targets (per batch,
    with ``generator`` for binary draws) with their keypoint weights, which mask
    landmarks without a target out of the loss, the model runs under bfloat16 autocast when
    ``amp``, and the run's loss (:func:`~lmkviz.training.build.make_run_loss`) is
    back-propagated. The learning-rate schedule is the caller's.
    """
    images = batch["image"].to(device, non_blocking=True)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    points = batch["points"].to(device, non_blocking=True)[:, indices]
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        out = model(images)
    # landmarks without a target (outside the crop, unlabelled) are masked out of the loss
    loss = make_run_loss(config, codec)(out, points, generator=generator)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss


def _rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state(), "python": list(random.getstate()[1])}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _restore_rng(state: dict, device: torch.device) -> None:
    if "torch" in state:
        torch.set_rng_state(state["torch"].cpu())
    if "python" in state:
        random.setstate((3, tuple(int(v) for v in state["python"]), None))
    if "cuda" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


def _fmt_eta(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Trainer:
    """One training process of a run: builds data, model and optimiser, then :meth:`fit`."""

    def __init__(self, job: TrainJob):
        self.job = job
        self.config = config = job.config
        self.run = job.run
        self.dist = job.dist
        self.is_main = job.dist.is_main
        self.dist.init(config.device)
        self.device = device = self.dist.device(config.device)
        set_seed(config.seed + self.dist.rank)
        self.amp = config.amp and device.type == "cuda"
        # channels_last: faster on CUDA and on CPUs too (1.2-1.7x on AVX2, bench/train_throughput.py)
        self.channels_last = config.channels_last
        tune_for_training(device)

        self.train_ds, self.val_ds, self.scheme, self.indices = build_datasets(config)
        net, self.model_kwargs = build_model(config, len(self.indices))
        self.codec = make_codec(config, net.stride)
        net = net.to(device)
        if self.channels_last:
            net = net.to(memory_format=torch.channels_last)
        self.net = net
        self.model = nn.parallel.DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None) if self.dist.enabled else net

        self.batch_size = min(config.batch_size, len(self.train_ds))
        self.steps_per_epoch = max(1, len(self.train_ds) // (self.batch_size * self.dist.world))
        self.total_steps = self.steps_per_epoch * config.epochs
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        if config.schedule == "onecycle" and self.total_steps >= 4:
            # warm up over a quarter of the run (at least 2 steps), then cosine down
            self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
                self.optimizer, max_lr=config.lr, total_steps=self.total_steps,
                pct_start=max(0.25, 2.5 / self.total_steps), div_factor=25.0, final_div_factor=1e3)
        else:
            self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda _: 1.0)

        self.primary = primary_decoder(self.codec)
        self.tensorboard = open_log(self.run.path, config.tensorboard and self.is_main, self.primary)
        self.start_epoch, self.best, self.best_epoch, self.previous_time = 0, math.inf, -1, 0.0
        self.indices_t = torch.as_tensor(list(self.indices), device=device)
        self.encode_gen = torch.Generator(device=device)
        self.epoch_times: list[float] = []
        self.epoch_records: list[dict] = []  # carried by last.pt, so that none is ever lost
        self.last_lr = config.lr  # the rate of the latest optimiser step
        self.t_start = time.time()

    # ------------------------------------------------------------------ start

    def restore(self) -> bool:
        """Load weights, optimiser, scheduler, RNG and the best score from ``last.pt``;
        False when there is none (the run starts from scratch).

        On rank 0 the run folder is first brought back to the checkpoint's epoch
        (:meth:`reconcile`). Raises :class:`ResumeError` when the checkpoint cannot
        continue under this config (see :func:`check_resume`).
        """
        if not self.run.last_path.exists():
            if self.is_main:  # no epoch was finished: everything logged belongs to the redone epoch
                self.run.truncate_history(0)
            return False
        data = ckpt.load(self.run.last_path, model=self.config.model, num_points=len(self.indices),
                         map_location=self.device)
        check_resume(self.run, self.config, data)
        state = data["training_state"]
        sched = state["scheduler"]
        if isinstance(sched, dict) and sched.get("total_steps", self.total_steps) != self.total_steps and \
                isinstance(self.scheduler, torch.optim.lr_scheduler.OneCycleLR):
            raise ResumeError(
                f"{self.run.path.name}: the one-cycle schedule in last.pt was planned for {sched['total_steps']} "
                f"optimiser steps, this config gives {self.total_steps} (the training set changed size?). Resume "
                "with the data it started with, or start a new run")
        self.net.load_state_dict(data["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(sched)
        self.start_epoch = int(state["epoch"]) + 1
        self.best = float(state.get("best", math.inf))
        self.best_epoch = int(state.get("best_epoch", -1))
        self.previous_time = float(state.get("elapsed_s", 0.0))
        _restore_rng(state.get("rng", {}), self.device)
        self.epoch_records = _epoch_records(state, self.run)
        if self.is_main:
            self.reconcile(state)
        return True

    def reconcile(self, state: dict) -> None:
        """Make the run folder agree with ``last.pt`` (see :func:`reconcile_run`)."""
        reconcile_run(self.run, state, self.epoch_records)

    def fit(self) -> None:
        """Train from the start (or the resumed epoch) to the last epoch."""
        config = self.config
        if self.job.resuming and self.restore():
            if self.is_main:
                log.info("resuming %s from epoch %d of %d", self.run.path, self.start_epoch + 1, config.epochs)
        elif self.is_main:
            log.info("run %s: %s on %s, %d training / %d validation images, %d of %d landmarks",
                     self.run.path.name, config.model, device_label(self.device), len(self.train_ds),
                     len(self.val_ds), len(self.indices), self.scheme.num_points)
            log.info("%s, loss %s; %d epochs x %d steps", self.codec.describe(),
                     make_run_loss(config, self.codec).name, config.epochs, self.steps_per_epoch)
        self.t_start = time.time()
        for epoch in range(self.start_epoch, config.epochs):
            t_epoch = time.time()
            train_loss, seen = self.train_epoch(epoch)
            train_time = time.time() - t_epoch
            if self.is_main:  # validation and checkpoints on rank 0; the others wait at the barrier
                evaluation = self.validate()
                self.epoch_times.append(time.time() - t_epoch)
                self.end_epoch(epoch, train_loss, evaluation, train_time, seen)
            self.dist.barrier()
            if self.should_stop():
                raise StopTraining()

    # ------------------------------------------------------------------ one epoch

    def should_stop(self) -> bool:
        """A stop was asked for (signal or STOP file); under DDP all ranks agree, so that
        none of them is left waiting in a collective."""
        return self.dist.any(self.job.stop.requested or self.run.stop_requested(), self.device)

    def train_loader(self, epoch: int):
        """This epoch's loader: a fixed shuffle per (seed, epoch, rank), the last partial batch dropped."""
        config, dist = self.config, self.dist
        gen = torch.Generator().manual_seed(config.seed * 100_003 + epoch * 101 + dist.rank)
        common = dict(batch_size=self.batch_size, num_workers=config.workers, pin_memory=self.device.type == "cuda",
                      drop_last=True, generator=gen, persistent_workers=False)
        if dist.enabled:
            sampler = torch.utils.data.distributed.DistributedSampler(
                self.train_ds, num_replicas=dist.world, rank=dist.rank, shuffle=True, seed=config.seed,
                drop_last=True)
            sampler.set_epoch(epoch)
            return torch.utils.data.DataLoader(self.train_ds, sampler=sampler, **common)
        return torch.utils.data.DataLoader(self.train_ds, shuffle=True, **common)

    def train_epoch(self, epoch: int) -> tuple[float, int]:
        """Optimiser steps over one epoch; returns (mean training loss over all ranks, images seen here)."""
        config = self.config
        self.encode_gen.manual_seed(config.seed * 7919 + epoch)
        self.model.train()
        t_epoch = time.time()
        running, seen = 0.0, 0
        bar = self._progress_bar(epoch)
        for step, batch in enumerate(self.train_loader(epoch)):
            if step >= self.steps_per_epoch:
                break
            if self.should_stop():
                raise StopTraining()
            lr = self.scheduler.get_last_lr()[0]  # the rate this step uses
            loss = train_step(self.model, self.optimizer, batch, self.codec, self.indices_t, config, self.device,
                              amp=self.amp, channels_last=self.channels_last, generator=self.encode_gen)
            self.scheduler.step()
            self.last_lr = lr
            value = loss.detach()
            if not torch.isfinite(value):
                raise NonFiniteLoss(
                    f"loss became {value.item()} at epoch {epoch + 1}, step {step + 1}: training diverged. "
                    "Lower the learning rate (e.g. by 10x) and resume or restart; "
                    f"the last good checkpoint is {self.run.last_path}"
                )
            value = float(value)
            running += value * len(batch["image"])
            seen += len(batch["image"])
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{value:.4g}")
            global_step = epoch * self.steps_per_epoch + step + 1
            self.tensorboard.step(global_step, value, lr)
            if self.is_main and (global_step % config.log_every == 0 or step + 1 == self.steps_per_epoch):
                self.log_step(epoch, step, value, lr, seen, time.time() - t_epoch, quiet=bar is not None)
        if bar is not None:
            bar.close()
        total, count = self.dist.sum([running, float(seen)], self.device)
        return total / max(count, 1), seen

    def _progress_bar(self, epoch: int):
        show = sys.stderr.isatty() if self.job.progress_bar is None else self.job.progress_bar
        if not (show and self.is_main):
            return None
        from tqdm import tqdm

        return tqdm(total=self.steps_per_epoch, desc=f"epoch {epoch + 1}/{self.config.epochs}", leave=False,
                    dynamic_ncols=True)

    def log_step(self, epoch: int, step: int, loss: float, lr: float, seen: int, elapsed: float,
                 quiet: bool = False) -> None:
        """A step record in metrics.jsonl (``lr``: the rate the step used) and the status (with
        the ETA); a log line unless ``quiet``."""
        config, per_epoch = self.config, self.steps_per_epoch
        per_step = elapsed / (step + 1)
        epoch_est = (sum(self.epoch_times) / len(self.epoch_times)) if self.epoch_times else per_step * per_epoch
        remaining = (per_epoch - step - 1) * per_step + (config.epochs - epoch - 1) * epoch_est
        global_step = epoch * per_epoch + step + 1
        self.run.append_metrics({"kind": "step", "epoch": epoch + 1, "step": global_step, "loss": loss, "lr": lr,
                                 "time": time.time()})
        self.run.write_status(state="running", epoch=epoch + 1, step=global_step, steps_per_epoch=per_epoch,
                              total_steps=self.total_steps, eta_s=remaining,
                              images_per_s=seen * self.dist.world / max(elapsed, 1e-9))
        if not quiet:
            log.info("epoch %d/%d step %d/%d loss %.5g lr %.3g eta %s", epoch + 1, config.epochs, step + 1,
                     per_epoch, loss, lr, _fmt_eta(remaining))

    # ------------------------------------------------------------------ end of an epoch (rank 0)

    def validate(self) -> Evaluation:
        """The evaluator on the validation set, in fp32 (as ``lmkviz evaluate`` scores a checkpoint)."""
        return evaluate_model(self.net, self.codec, self.val_ds, indices=self.indices, scheme=self.scheme,
                              device=self.device, batch_size=max(1, min(self.config.batch_size, len(self.val_ds))),
                              workers=self.config.workers, channels_last=self.channels_last,
                              loss_fn=make_run_loss(self.config, self.codec))

    def end_epoch(self, epoch: int, train_loss: float, evaluation: Evaluation, train_time: float, seen: int) -> None:
        """Checkpoints, preview, the epoch record, the status and a log line."""
        config = self.config
        val_nme = evaluation.mean_nme()
        val_loss = evaluation.loss
        score = val_nme[self.primary] if math.isfinite(val_nme[self.primary]) else val_loss
        elapsed = self.previous_time + (time.time() - self.t_start)
        improved = score < self.best
        if improved:
            self.best, self.best_epoch = score, epoch
        summary = {
            "epoch": epoch + 1, "epochs": config.epochs, "train_loss": train_loss,
            "val_loss": val_loss, "val_nme": val_nme, "primary_decoder": self.primary,
            "best_epoch": self.best_epoch + 1, "best_val_nme": self.best if math.isfinite(self.best) else None,
            "train_images": len(self.train_ds), "val_images": len(self.val_ds),
            "device": device_label(self.device), "world_size": self.dist.world, "elapsed_s": elapsed,
            "torch": str(torch.__version__),
        }
        # the order makes a kill at any instant harmless (see the module docstring): what is
        # written before last.pt is redone on resume, what comes after is repaired from it
        self.write_preview(evaluation, epoch + 1)
        kill_point("epoch-end:preview")
        images_per_s = seen * self.dist.world / max(train_time, 1e-9)
        record = {"kind": "epoch", "epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss,
                  "val_nme": val_nme, "lr": self.last_lr,
                  "epoch_time_s": train_time, "images_per_s": images_per_s, "time": time.time()}
        self.run.append_metrics(record)
        kill_point("epoch-end:record")
        self.epoch_records.append(record)
        self.save_checkpoints(epoch, summary, improved, elapsed)
        self.tensorboard.epoch((epoch + 1) * self.steps_per_epoch, train_loss, val_loss, val_nme, images_per_s)
        remaining = (config.epochs - epoch - 1) * (sum(self.epoch_times) / len(self.epoch_times))
        self.run.write_status(state="running", epoch=epoch + 1, step=(epoch + 1) * self.steps_per_epoch,
                              eta_s=remaining, best_epoch=self.best_epoch + 1, val_nme=val_nme)
        kill_point("epoch-end:status")
        log.info("epoch %d/%d train loss %.5g val loss %.5g val NME %% %s (%.0fs, %.1f img/s)%s",
                 epoch + 1, config.epochs, train_loss, val_loss,
                 " ".join(f"{m} {v:.3f}" for m, v in val_nme.items()), train_time, images_per_s,
                 " *best*" if improved else "")

    def save_checkpoints(self, epoch: int, summary: dict, improved: bool, elapsed: float) -> None:
        """``last.pt`` always, with what resuming needs (which commits the epoch); then
        ``best.pt`` when the score improved (a kill in between is repaired on resume)."""
        payload = ckpt.checkpoint_payload(self.net, self.config, self.model_kwargs, self.codec, self.scheme,
                                          self.indices, summary)
        last = dict(payload, training_state={
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "epoch": epoch, "best": self.best, "best_epoch": self.best_epoch, "elapsed_s": elapsed,
            "rng": _rng_state(self.device), "epoch_records": list(self.epoch_records),
        })
        ckpt.save(last, self.run.last_path)
        kill_point("epoch-end:last")
        if improved:
            ckpt.save(payload, self.run.best_path)
            kill_point("epoch-end:best")

    def write_preview(self, evaluation: Evaluation, epoch: int) -> None:
        """``preview.npz``: the first few validation images (see :meth:`RunFolder.preview`),
        scored by the evaluator, so their NME is the one ``evaluation`` counted; the same kept
        as ``previews/epoch-NNN.npz`` of ``epoch`` (1-based; :meth:`RunFolder.epoch_preview`).

        ``heatmaps`` are the codec's maps to draw (:meth:`display_maps`); for a SimCC
        model the pseudo-heatmaps (outer product of the x and y distributions, peak 1)
        at the size of the backbone's feature map, and also ``simcc_x`` (n, k, W_x) and
        ``simcc_y`` (n, k, H_y) float16, the two distributions (not kept per epoch)."""
        count = min(self.config.preview, len(self.val_ds))
        if count <= 0:
            return
        batch = torch.utils.data.default_collate([self.val_ds[i] for i in range(count)])
        scorer = Evaluator(self.net, self.codec, indices=self.indices, eye_corners=self.scheme.eye_corners,
                           device=self.device, channels_last=self.channels_last)
        out = scorer.add(batch)
        result = scorer.result()
        size = self.codec.image_size
        extra = {}
        if isinstance(out, tuple):  # SimCC: drawn at the feature map's size, and the 1-D distributions
            side = tuple(math.ceil(s / self.net.stride) for s in size)
            maps = self.codec.pseudo_heatmaps(out, size=side)
            x, y = self.codec.probabilities(out)
            extra = {"simcc_x": x.cpu().numpy().astype(np.float16), "simcc_y": y.cpu().numpy().astype(np.float16)}
        elif out.ndim == 4:
            maps = self.codec.display_maps(out)
        else:  # direct regression: points, no heatmaps to show
            maps = None
        arrays = {
            "images": (batch["image"].permute(0, 2, 3, 1).numpy() * 255).round().clip(0, 255).astype(np.uint8),
            "target": batch["points"][:, list(self.indices)].numpy(),
            "indices": np.asarray(list(self.indices)),
            "image_size": np.asarray(size),
            **extra,
        }
        if maps is not None:  # a regression model has no heatmaps to show
            arrays["heatmaps"] = maps.cpu().numpy().astype(np.float16)
        for m, pred in result.pred.items():
            on_input = coords.rescale_batch(torch.from_numpy(pred), result.image_sizes, size)
            arrays[f"pred_{m}"] = on_input.numpy().astype(np.float32)
            arrays[f"nme_{m}"] = result.nme[m].astype(np.float64)
        self.run.write_preview(arrays, epoch=epoch)
        self.tensorboard.preview(arrays)


# ----------------------------------------------------------------------------- entry point

def _setup_logging(run: Optional[RunFolder]) -> logging.Handler | None:
    log.setLevel(logging.INFO)
    if run is None:
        return None
    handler = logging.FileHandler(run.log_path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    log.addHandler(handler)
    if not any(isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler) for h in log.handlers):
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(console)
    return handler


def _failure_message(err: BaseException, run: RunFolder) -> str:
    """The error of a failed run as status.json records it; a full disk is said plainly."""
    if is_disk_full(err):
        name = Path(err.filename).name if isinstance(getattr(err, "filename", None), str) else None
        return (f"disk full: no space left on the device of {run.path}"
                + (f" (writing {name})" if name else "")
                + ". Free some space, then resume: the last finished epoch is kept")
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


def _record_final(run: RunFolder, **fields) -> None:
    """The final state, written where it cannot be lost silently (the status slot on a full
    disk); when even that fails, said on stderr (the job's output.log)."""
    try:
        run.write_final_status(**fields)
    except OSError as err:
        print(f"error: cannot record the run's state {fields.get('state')!r} ({err}): "
              f"{fields.get('error') or ''}", file=sys.stderr, flush=True)


def reconcile_run(run: RunFolder, state: dict, epoch_records: list[dict]) -> None:
    """Make a run folder agree with its ``last.pt`` (whose ``training_state`` is ``state``
    and whose epoch records are ``epoch_records``): in ``metrics.jsonl`` one record per
    step and epoch up to the checkpoint's epoch and none after, and ``best.pt`` of that
    epoch when it was the best (a kill between ``last.pt`` and ``best.pt``)."""
    done = int(state["epoch"]) + 1
    if run.truncate_history(done, epoch_records):
        log.info("metrics.jsonl brought back to epoch %d (the checkpoint's)", done)
    if run.drop_previews_after(done):
        log.info("previews of the epochs after %d removed (the checkpoint's)", done)
    if int(state.get("best_epoch", -1)) != done - 1:
        return
    try:
        best = ckpt.load(run.best_path, map_location="cpu")
        up_to_date = int(best.get("summary", {}).get("epoch", -1)) == done
    except (ckpt.CheckpointError, TypeError, ValueError, AttributeError):
        up_to_date = False
    if not up_to_date:
        data = ckpt.load(run.last_path, map_location="cpu")
        ckpt.save({k: v for k, v in data.items() if k != "training_state"}, run.best_path)
        log.info("best.pt rewritten from last.pt (epoch %d)", done)


def _epoch_records(state: dict, run: RunFolder) -> list[dict]:
    """The epoch records ``last.pt`` carries (a checkpoint of an older lmkviz carries none:
    then those of metrics.jsonl up to its epoch)."""
    records = state.get("epoch_records")
    if not isinstance(records, list):
        done = int(state["epoch"]) + 1
        records = [r for r in dedupe_history(run.metrics())[1] if r["epoch"] <= done]
    return [r for r in records if isinstance(r, dict)]


def train(
    config: Optional[TrainConfig] = None,
    *,
    run_dir: Optional[Path | str] = None,
    resume: Optional[Path | str] = None,
    runs_root: Optional[Path | str] = None,
    progress_bar: Optional[bool] = None,
    epochs: Optional[int] = None,
) -> Path:
    """Train a model; returns the run folder.

    config: the run's settings (ignored with ``resume``, which reads config.json).
    run_dir: write into this folder (created if needed) instead of a new
        ``runs_root/<timestamp>-<name>`` (runs_root: default :func:`lmkviz.runs.runs_root`).
    resume: continue the run in this folder from its ``last.pt`` (or from scratch if
        no epoch had finished). A run whose epochs are all done stays done (nothing to
        do). :class:`ResumeError` when the checkpoint cannot continue under config.json
        (see :func:`check_resume`).
    epochs: with ``resume``, a new number of epochs (constant schedule only; written to
        config.json once accepted).
    progress_bar: tqdm on a terminal (default: when stderr is a TTY); plain log
        lines otherwise.

    One process at most trains in a run folder: :class:`RunBusy` (nothing written)
    when another holds it. The final state is written to ``status.json``: done,
    stopped (SIGTERM/SIGINT or a STOP file in the run folder), or failed (with the
    error; "disk full: ..." when the disk filled up, recorded in the status slot when
    status.json itself cannot be written). Errors are re-raised after being recorded,
    except a requested stop.
    """
    dist = Distributed.from_env()
    if resume is not None:
        run = RunFolder(resume)
        config = run.config()
        if epochs is not None and epochs != config.epochs:
            config = config.replace(epochs=int(epochs))
    else:
        if config is None:
            raise ValueError("train() needs a config or resume=RUN_DIR")
        path = None
        if dist.is_main:
            path = Path(run_dir) if run_dir is not None else new_run_dir(config.name, runs_root)
            path.mkdir(parents=True, exist_ok=True)
        if dist.enabled:  # every rank needs the folder rank 0 created (STOP file, resume)
            dist.init(config.device)
            shared = dist.broadcast(str(path) if path is not None else None)
            path = Path(shared)
        run = RunFolder(path)
    is_main = dist.is_main
    lock = None
    if is_main:
        from lmkviz.waiter import busy_message

        lock = run.lock()
        if not lock.try_acquire():
            raise RunBusy(busy_message(run, lock))
    try:
        if is_main:
            run.remove_stale_temp_files()
            run.prepare_status_slot()
        if resume is not None:
            try:
                plan = check_resume(run, config)
            except ResumeError as err:
                if is_main and run.status().get("state") == "queued":  # a background job: say why on the page
                    _record_final(run, state="failed", error=str(err))
                raise
            if plan.nothing_to_do:
                if is_main:
                    state = ckpt.load(run.last_path, map_location="cpu")["training_state"]
                    reconcile_run(run, state, _epoch_records(state, run))
                    _record_final(run, state="done", eta_s=0, error=None, waiting_for=None)
                    print(f"nothing to do: all {plan.epochs_done} epochs of {run.path} are done "
                          "(raise the number of epochs with --epochs N under the constant schedule, or start a "
                          "new run)", file=sys.stderr)
                return run.path
        return _train(run, config, dist, resuming=resume is not None, progress_bar=progress_bar)
    finally:
        if lock is not None:
            lock.release()


def _train(run: RunFolder, config: TrainConfig, dist: Distributed, *, resuming: bool,
           progress_bar: Optional[bool]) -> Path:
    is_main = dist.is_main
    handler = _setup_logging(run if is_main else None)
    stop = StopFlag()
    old_handlers = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            old_handlers[sig] = signal.signal(sig, stop.set)
        except ValueError:  # not in the main thread
            pass
    try:
        if is_main:
            run.write_config(config)
            run.write_status(state="running", started=time.time(), error=None, waiting_for=None,
                             epochs=config.epochs, host=platform.node(), **procs.identity())
        job = TrainJob(config=config, run=run, resuming=resuming, dist=dist, stop=stop,
                       progress_bar=progress_bar)
        Trainer(job).fit()
        if is_main:
            _record_final(run, state="done", eta_s=0)
            log.info("done: %s", run.path)
    except StopTraining:
        if is_main:
            _record_final(run, state="stopped")
            log.info("stopped; resume with: python -m lmkviz train --resume %s", run.path)
    except NonFiniteLoss as err:
        if is_main:
            _record_final(run, state="failed", error=str(err))
            log.error("%s", err)
        raise
    except BaseException as err:
        if is_main:
            message = _failure_message(err, run)
            _record_final(run, state="failed", error=message)
            log.error("failed: %s", message)
        raise
    finally:
        for sig, old in old_handlers.items():
            signal.signal(sig, old)
        if handler is not None:
            log.removeHandler(handler)
            handler.close()
        dist.shutdown()
    return run.path
