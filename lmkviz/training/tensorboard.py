"""TensorBoard event files of a training run, next to its ``metrics.jsonl``.

    tensorboard --logdir runs          # every run folder is a run in TensorBoard

The training loop (:mod:`lmkviz.training.loop`) calls :func:`open_log` once and then
:meth:`TensorBoardLog.step`, :meth:`~TensorBoardLog.epoch` and :meth:`~TensorBoardLog.preview`.
Scalars, all against the global optimiser step:

* ``train/loss`` and ``train/lr``: every optimiser step (the loss of that batch, the rate it used);
* ``train/epoch_loss``, ``val/loss``, ``val/nme/<decoder>`` (NME in % per decoder),
  ``train/images_per_s``: at the end of each epoch;
* ``preview``: the first validation images with their annotated points (green) and the
  primary decoder's prediction (red), each epoch.

The ``tensorboard`` package is optional: without it (``torch.utils.tensorboard`` cannot be
imported) the run goes on and the log says once how to install it. ``TrainConfig(tensorboard=False)``
(``--no-tensorboard``) writes nothing.
"""

from __future__ import annotations

import logging
import math
import weakref
from pathlib import Path
from typing import Optional

import numpy as np

__all__ = ["TensorBoardLog", "open_log", "INSTALL_HINT"]

log = logging.getLogger("lmkviz.training")

INSTALL_HINT = ("TensorBoard logging is off: the tensorboard package is not installed "
                "(pip install tensorboard, then: tensorboard --logdir runs)")


class TensorBoardLog:
    """Writes a run's scalars and preview images; every method does nothing when disabled."""

    def __init__(self, writer=None, primary: str = "dark"):
        self.writer = writer
        self.primary = primary
        self.global_step = 0
        if writer is not None:
            weakref.finalize(self, writer.close)

    @property
    def enabled(self) -> bool:
        return self.writer is not None

    def step(self, global_step: int, loss: float, lr: float) -> None:
        """One optimiser step: its loss and learning rate."""
        self.global_step = int(global_step)
        if self.writer is None:
            return
        self.writer.add_scalar("train/loss", float(loss), self.global_step)
        self.writer.add_scalar("train/lr", float(lr), self.global_step)

    def epoch(self, global_step: int, train_loss: float, val_loss: Optional[float], val_nme: dict,
              images_per_s: Optional[float] = None) -> None:
        """The end of an epoch: its mean training loss, validation loss and NME (%) per decoder."""
        self.global_step = int(global_step)
        if self.writer is None:
            return
        w, step = self.writer, self.global_step
        w.add_scalar("train/epoch_loss", float(train_loss), step)
        if val_loss is not None and math.isfinite(val_loss):
            w.add_scalar("val/loss", float(val_loss), step)
        for decoder, value in val_nme.items():
            if value is not None and math.isfinite(value):
                w.add_scalar(f"val/nme/{decoder}", float(value), step)
        if images_per_s is not None:
            w.add_scalar("train/images_per_s", float(images_per_s), step)
        w.flush()

    def preview(self, arrays: dict) -> None:
        """The preview images of :meth:`lmkviz.runs.RunFolder.write_preview`'s ``arrays``
        (``images`` (N, S, S, 3) uint8, ``target`` and ``pred_<decoder>`` (N, k, 2) input pixels)
        with the points drawn, at the latest step."""
        if self.writer is None or "images" not in arrays:
            return
        images = np.array(arrays["images"], dtype=np.uint8, copy=True)
        pred = arrays.get(f"pred_{self.primary}")
        for i in range(len(images)):
            _dots(images[i], arrays["target"][i], (0, 220, 0))
            if pred is not None:
                _dots(images[i], pred[i], (255, 40, 40))
        self.writer.add_images("preview", images, self.global_step, dataformats="NHWC")
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _dots(image: np.ndarray, points: np.ndarray, colour: tuple) -> None:
    """Paint 3 x 3 dots at continuous-pixel points (pixel j spans [j, j + 1)) into an (S, S, 3) image."""
    h, w = image.shape[:2]
    for x, y in np.asarray(points, dtype=float):
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        cx, cy = int(math.floor(x)), int(math.floor(y))
        image[max(0, cy - 1):min(h, cy + 2), max(0, cx - 1):min(w, cx + 2)] = colour


def open_log(run_dir: Path, enabled: bool = True, primary: str = "dark") -> TensorBoardLog:
    """A :class:`TensorBoardLog` writing event files into ``run_dir`` (the run folder), or a
    disabled one when ``enabled`` is False or the tensorboard package is missing (then said
    once, in the run's log)."""
    if not enabled:
        return TensorBoardLog(None, primary)
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.warning(INSTALL_HINT)
        return TensorBoardLog(None, primary)
    return TensorBoardLog(SummaryWriter(log_dir=str(run_dir), flush_secs=30), primary)
