"""The run-folder format: where training runs live and how their files are read and written.

One run lives in one folder, ``<runs root>/<YYYYmmdd-HHMMSS>-<name>/``::

    config.json     the TrainConfig
    status.json     state (queued/running/done/failed/stopped), epoch, step, ETA, error
    metrics.jsonl   one JSON object per logged step ({"kind": "step", "epoch", "step", "loss",
                    "lr", "time"}) and per epoch ({"kind": "epoch", "epoch", "train_loss",
                    "val_loss", "val_nme": {decoder: %}, ...})
    train.log       human-readable log
    preview.npz     a few fixed validation images with their predictions (each epoch)
    last.pt         checkpoint after every epoch (with optimiser/scheduler/RNG state)
    best.pt         checkpoint of the epoch with the best validation NME
    lr_find.json    the learning-rate finder's curve (finder runs only)
    events.out.tfevents.*  TensorBoard event files (lmkviz.training.tensorboard; `tensorboard --logdir runs`)
    STOP            present when a stop was asked for

Every file except metrics.jsonl (append-only, a torn last line is ignored) is
replaced atomically, so a process killed at any moment (even with SIGKILL) leaves
the previous complete version.

The runs root is ``$LMKVIZ_RUNS`` when set, else ``runs`` relative to the current
folder (:func:`runs_root`); the CLI, background jobs and the app all use it.
"""

from __future__ import annotations

import io
import json
import os
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np

from lmkviz.checkpoint import atomic_write_bytes

if TYPE_CHECKING:
    from lmkviz.training.config import TrainConfig

RUNS_ENV = "LMKVIZ_RUNS"
"""Environment variable naming the runs root."""

PathLike = Union[str, os.PathLike]


def runs_root() -> Path:
    """The folder holding training runs: ``$LMKVIZ_RUNS``, or ``runs`` (relative to the cwd)."""
    return Path(os.environ.get(RUNS_ENV) or "runs")


def atomic_write_text(path: PathLike, text: str) -> None:
    """Write UTF-8 text so that a reader (or a kill) never sees half a file."""
    atomic_write_bytes(path, text.encode("utf-8"))


def read_json(path: PathLike) -> Optional[dict]:
    """A JSON file's content, or None when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def new_run_dir(name: str, root: Optional[PathLike] = None) -> Path:
    """A fresh ``root/<YYYYmmdd-HHMMSS>-<name>`` folder (suffixed ``-1``, ``-2``... when taken).

    root: default :func:`runs_root`. Characters other than letters, digits and ``-_.``
    in ``name`` become ``-``.
    """
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip("-") or "run"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    root = runs_root() if root is None else Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(1000):
        path = root / (f"{stamp}-{safe}" if i == 0 else f"{stamp}-{safe}-{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot create a run folder in {root}")


def dedupe_history(records: list[dict]) -> tuple[list[dict], list[dict]]:
    """(step records, epoch records) of metric records, each sorted and unique.

    A resumed run redoes the interrupted epoch from its start and logs those steps
    again: the later record of a repeated step (or epoch) wins.
    """
    steps: dict[int, dict] = {}
    epochs: dict[int, dict] = {}
    for r in records:
        if r.get("kind") == "step" and "step" in r:
            steps[r["step"]] = r
        elif r.get("kind") == "epoch" and "epoch" in r:
            epochs[r["epoch"]] = r
    return [steps[s] for s in sorted(steps)], [epochs[e] for e in sorted(epochs)]


class RunFolder:
    """Reads and writes the files of one run folder (see the module docstring)."""

    def __init__(self, path: PathLike):
        self.path = Path(path)

    config_path = property(lambda self: self.path / "config.json")
    status_path = property(lambda self: self.path / "status.json")
    metrics_path = property(lambda self: self.path / "metrics.jsonl")
    log_path = property(lambda self: self.path / "train.log")
    output_log_path = property(lambda self: self.path / "output.log")
    preview_path = property(lambda self: self.path / "preview.npz")
    last_path = property(lambda self: self.path / "last.pt")
    best_path = property(lambda self: self.path / "best.pt")
    lr_find_path = property(lambda self: self.path / "lr_find.json")
    stop_path = property(lambda self: self.path / "STOP")

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # -- config and status

    def config(self) -> "TrainConfig":
        """The run's TrainConfig; ValueError when the folder has no (valid) config.json."""
        from lmkviz.training.config import TrainConfig

        if not self.config_path.exists():
            raise ValueError(f"{self.path}: not a run folder (no config.json)")
        return TrainConfig.from_json(self.config_path.read_text(encoding="utf-8"))

    def write_config(self, config: "TrainConfig") -> None:
        atomic_write_text(self.config_path, config.to_json())

    def status(self) -> dict:
        return read_json(self.status_path) or {}

    def write_status(self, **fields: Any) -> dict:
        """Update some fields of ``status.json`` (and its ``updated`` time); returns the new status."""
        status = self.status()
        status.update(fields)
        status["updated"] = time.time()
        atomic_write_text(self.status_path, json.dumps(status, indent=2))
        return status

    # -- metrics

    def append_metrics(self, record: dict) -> None:
        line = json.dumps(record, allow_nan=True) + "\n"
        with open(self.metrics_path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()

    def metrics(self) -> list[dict]:
        """All complete metric records in file order (a torn last line from a kill is ignored)."""
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

    def history(self) -> tuple[list[dict], list[dict]]:
        """(step records, epoch records), sorted, one per step and epoch (see :func:`dedupe_history`)."""
        return dedupe_history(self.metrics())

    # -- preview and finder results

    def write_preview(self, arrays: dict) -> None:
        """Save the preview arrays (``np.savez_compressed``) atomically."""
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        atomic_write_bytes(self.preview_path, buffer.getvalue())

    def preview(self) -> Optional[dict]:
        """The arrays of ``preview.npz`` ({name: array}), None when missing or unreadable.

        Written each epoch by the training loop: ``images`` (n, S, S, 3) uint8 network
        inputs; ``target`` and ``pred_<decoder>`` (n, k, 2) in input pixels;
        ``heatmaps`` (n, k, h, w) float16 scores in [0, 1]; ``indices`` (k,);
        ``image_size`` (2,) = (S, S); ``nme_<decoder>`` (n,) per-image NME (a fraction,
        in original image pixels with the scheme's eye corners; absent in runs made
        before it was added).
        """
        try:
            with np.load(self.preview_path) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError):
            return None

    def lr_find_result(self) -> Optional[dict]:
        """``lr_find.json`` ({"lr", "loss", "suggested"}), None when not there (yet)."""
        return read_json(self.lr_find_path)

    # -- control

    def stop_requested(self) -> bool:
        return self.stop_path.exists()


# ----------------------------------------------------------------------------- reading a run's scores


def best_epoch(epochs: list[dict], decoder: str) -> tuple[Optional[int], Optional[float]]:
    """(epoch, validation NME %) of the epoch record (:meth:`RunFolder.history`) with the
    lowest finite ``val_nme`` of ``decoder``; (None, None) before the first epoch."""
    import math

    scored = [(float(r["val_nme"][decoder]), int(r["epoch"])) for r in epochs
              if isinstance((r.get("val_nme") or {}).get(decoder), (int, float))
              and math.isfinite(r["val_nme"][decoder])]
    if not scored:
        return None, None
    value, epoch = min(scored)
    return epoch, value


def preview_nme(preview: dict, decoder: str) -> Optional[list[float]]:
    """Per-image NME in % of the preview images (:meth:`RunFolder.preview`, ``nme_<decoder>``)
    as the training loop scored them; None for runs made before it was stored."""
    values = preview.get(f"nme_{decoder}")
    if values is None or not np.isfinite(values).any():
        return None
    return [float(v) * 100 for v in values]
