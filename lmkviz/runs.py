"""The run-folder format: where training runs live and how their files are read and written.

One run lives in one folder, ``<runs root>/<YYYYmmdd-HHMMSS>-<name>/``::

    config.json     the TrainConfig
    status.json     state (queued/running/done/failed/stopped), epoch, step, ETA, error
    metrics.jsonl   one JSON object per logged step ({"kind": "step", "epoch", "step", "loss",
                    "lr", "time"}) and per epoch ({"kind": "epoch", "epoch", "train_loss",
                    "val_loss", "val_nme": {decoder: %}, ...})
    train.log       human-readable log
    output.log      what a background job printed (stdout and stderr)
    preview.npz     a few fixed validation images with their predictions (each epoch)
    previews/       the preview of every epoch, to replay training (:meth:`RunFolder.epoch_preview`):
                    inputs.npz (the fixed images and their targets, written once) and
                    epoch-NNN.npz (that epoch's heatmaps, max over landmarks, and points)
    last.pt         checkpoint after every epoch (with optimiser/scheduler/RNG state)
    best.pt         checkpoint of the epoch with the best validation NME
    lr_find.json    the learning-rate finder's curve (finder runs only)
    events.out.tfevents.*  TensorBoard event files (lmkviz.training.tensorboard; `tensorboard --logdir runs`)
    STOP            present when a stop was asked for
    .lock           held by the one process that trains in this folder (:meth:`RunFolder.lock`)
    .status.lock    held for the few milliseconds of a status update (:meth:`RunFolder.write_status`)
    .status-slot    a pre-allocated copy of the status, written in place when status.json
                    cannot be replaced (a full disk): the reason of a failure is never lost

Every file except metrics.jsonl (append-only, a torn last line is ignored) is
replaced atomically, so a process killed at any moment (even with SIGKILL) leaves
the previous complete version; the temporary files of a killed writer are removed
when the run starts or resumes (:func:`lmkviz.files.remove_stale_temp_files`).

A run folder that is damaged (a hand-edited ``status.json``, a ``config.json`` that
is not a config) is read without raising: :meth:`RunFolder.read_status` and
:meth:`RunFolder.config` say what is wrong, and :func:`lmkviz.jobs.list_runs` lists
it as "broken" with that reason, next to the others.

This module imports only the standard library (numpy when a preview is read or
written), so that the job queue's waiting process stays small.

The runs root is ``$LMKVIZ_RUNS`` when set, else ``runs`` relative to the current
folder (:func:`runs_root`); the CLI, background jobs and the app all use it.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from lmkviz.files import atomic_write_bytes, remove_stale_temp_files
from lmkviz.locks import ProcessLock

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

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
    """A JSON object file's content, or None when it is missing, unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


STATES = ("queued", "running", "done", "failed", "stopped")
"""The states a run's status.json may hold (a run that cannot be read is listed as "broken")."""

_COUNTS = ("epoch", "step", "total_steps", "steps_per_epoch", "epochs", "best_epoch")
_TIMES = ("queued_at", "started", "updated")
_RATES = ("eta_s", "images_per_s")  # an infinite estimate is no damage: it is dropped
_TEXTS = ("error", "waiting_for", "task", "host", "slot")


def _describe(value: Any) -> str:
    text = json.dumps(value, allow_nan=True) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def validate_status(status: dict) -> tuple[dict, list[str]]:
    """(the status without its invalid fields, a description of each invalid field).

    Checks the fields lmkviz reads: ``state`` (one of :data:`STATES`), ``pid`` (an
    integer > 1), counts (``epoch``, ``step``, ...: whole numbers >= 0), times and
    rates (finite numbers), texts, ``val_nme`` (an object). Other fields are kept.
    """
    from lmkviz.procs import valid_pid

    clean, problems = dict(status), []

    def bad(key: str, expected: str) -> None:
        problems.append(f"status.json: {key} is {_describe(status[key])}, expected {expected}")
        clean.pop(key, None)

    for key, value in status.items():
        if value is None:
            continue
        if key == "state" and value not in STATES:
            bad(key, "one of " + ", ".join(STATES))
        elif key == "pid" and valid_pid(value) is None:
            bad(key, "a process id (an integer > 1)")
        elif key == "pid_start" and (isinstance(value, bool) or not isinstance(value, (int, str))):
            bad(key, "a process start time")
        elif key in _COUNTS and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            bad(key, "a whole number >= 0")
        elif key in _TIMES and (isinstance(value, bool) or not isinstance(value, (int, float))
                                or not math.isfinite(value)):
            bad(key, "a number")
        elif key in _RATES:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                bad(key, "a number")
            elif not math.isfinite(value):
                clean.pop(key, None)
        elif key in _TEXTS and not isinstance(value, str):
            bad(key, "text")
        elif key == "val_nme" and not isinstance(value, dict):
            bad(key, "an object")
    return clean, problems


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


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


_STEP_NUMBERS = ("loss", "lr", "time")
_EPOCH_NUMBERS = ("train_loss", "val_loss", "lr", "epoch_time_s", "images_per_s", "time")


def record_key(record: Any) -> Optional[tuple[str, int]]:
    """("step", n) or ("epoch", n) for a valid metric record, else None.

    Valid: an object with a whole ``step`` and ``epoch`` (steps) or ``epoch``
    (epochs), whose numbers (loss, lr, ...) are numbers and whose ``val_nme`` is an
    object of numbers.
    """
    if not isinstance(record, dict):
        return None
    kind = record.get("kind")
    if kind == "step" and _whole(record.get("step")) and _whole(record.get("epoch")):
        if all(_number(record.get(k)) for k in _STEP_NUMBERS):
            return ("step", record["step"])
    elif kind == "epoch" and _whole(record.get("epoch")):
        nme = record.get("val_nme", {})
        if all(_number(record.get(k)) for k in _EPOCH_NUMBERS) and isinstance(nme, dict) and \
                all(isinstance(k, str) and _number(v) for k, v in nme.items()):
            return ("epoch", record["epoch"])
    return None


def dedupe_history(records: list[dict]) -> tuple[list[dict], list[dict]]:
    """(step records, epoch records) of metric records, each sorted and unique.

    A resumed run of an older lmkviz may have logged a step (or epoch) twice: the later
    record wins. Records that are not objects or lack a whole ``step`` / ``epoch``
    number are skipped.
    """
    steps: dict[int, dict] = {}
    epochs: dict[int, dict] = {}
    for r in records:
        key = record_key(r)
        if key is None:
            continue
        (steps if key[0] == "step" else epochs)[key[1]] = r
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
    previews_path = property(lambda self: self.path / "previews")
    last_path = property(lambda self: self.path / "last.pt")
    best_path = property(lambda self: self.path / "best.pt")
    lr_find_path = property(lambda self: self.path / "lr_find.json")
    stop_path = property(lambda self: self.path / "STOP")
    lock_path = property(lambda self: self.path / ".lock")
    slot_path = property(lambda self: self.path / ".status-slot")
    status_lock_path = property(lambda self: self.path / ".status.lock")

    SLOT_SIZE = 4096

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # -- config and status

    def config(self) -> "TrainConfig":
        """The run's TrainConfig; ValueError naming the file and the problem when the folder
        has no config.json or it cannot be read as one."""
        from lmkviz.training.config import TrainConfig

        if not self.config_path.exists():
            raise ValueError(f"{self.path}: not a run folder (no config.json)")
        try:
            text = self.config_path.read_text(encoding="utf-8")
        except IsADirectoryError:
            raise ValueError(f"{self.config_path}: is a folder, not a config file") from None
        except UnicodeDecodeError:
            raise ValueError(f"{self.config_path}: is not UTF-8 text") from None
        except OSError as err:
            raise ValueError(f"{self.config_path}: cannot be read ({err.strerror or err})") from None
        try:
            return TrainConfig.from_json(text)
        except (ValueError, TypeError, ArithmeticError, RecursionError) as err:
            raise ValueError(f"{self.config_path}: {err}") from None

    def write_config(self, config: "TrainConfig") -> None:
        atomic_write_text(self.config_path, config.to_json())

    def read_status(self) -> tuple[dict, Optional[str]]:
        """(status, problem): ``status.json`` (overlaid by a newer ``.status-slot``), and a
        description of what is wrong with it, None when nothing is.

        A missing file is an empty status, not a problem; a file that is not a JSON
        object reads as empty, with the problem.
        """
        status, problem = {}, None
        try:
            text = self.status_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = None
        except (OSError, UnicodeDecodeError) as err:
            text, problem = None, f"status.json cannot be read ({getattr(err, 'strerror', None) or err})"
        if text is not None:
            try:
                data = json.loads(text)
            except (ValueError, RecursionError):
                problem = "status.json is not valid JSON"
            else:
                if isinstance(data, dict):
                    status = data
                else:
                    problem = f"status.json holds {type(data).__name__} {_describe(data)}, not an object"
        slot = self._read_slot()
        if slot is not None and _newer(slot, status):
            status, problem = slot, None
        return status, problem

    def status(self) -> dict:
        """The status (see :meth:`read_status`); {} when there is none or it is unreadable."""
        return self.read_status()[0]

    def write_status(self, **fields: Any) -> dict:
        """Update some fields of ``status.json`` (and its ``updated`` time); returns the new status.

        The read-modify-write holds a short lock, so that the app, a waiting job and a
        training process that update the status at the same moment lose no field.
        """
        with self._status_lock():
            status = self.status()
            status.update(fields)
            status["updated"] = time.time()
            atomic_write_text(self.status_path, json.dumps(status, indent=2))
        return status

    def write_final_status(self, **fields: Any) -> dict:
        """:meth:`write_status` that cannot fail silently: when ``status.json`` cannot be
        replaced (a full disk), the status goes to the pre-allocated ``.status-slot``,
        written in place (see :meth:`prepare_status_slot`). Raises OSError only when both
        fail."""
        try:
            return self.write_status(**fields)
        except OSError as first:
            status = self.status()
            status.update(fields)
            status["updated"] = time.time()
            try:
                self._write_slot(status)
            except OSError:
                raise first from None
            return status

    def prepare_status_slot(self) -> bool:
        """Allocate ``.status-slot`` (4 KiB) while there is space, so that a final status can
        be written later even on a full disk; False when it could not be allocated."""
        try:
            if self.slot_path.stat().st_size >= self.SLOT_SIZE:
                return True
        except OSError:
            pass
        try:
            fd = os.open(self.slot_path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        except OSError:
            return False
        try:
            os.pwrite(fd, b" " * self.SLOT_SIZE, 0)
            os.fsync(fd)
            return True
        except OSError:
            return False
        finally:
            os.close(fd)

    def _write_slot(self, status: dict) -> None:
        status = dict(status)
        data = json.dumps(status, allow_nan=True).encode("utf-8")
        for bulky in ("val_nme", "waiting_for", "host"):  # keep state and error when space is short
            if len(data) < self.SLOT_SIZE:
                break
            status.pop(bulky, None)
            data = json.dumps(status, allow_nan=True).encode("utf-8")
        if len(data) >= self.SLOT_SIZE and isinstance(status.get("error"), str):
            status["error"] = status["error"][:1000]
            data = json.dumps(status, allow_nan=True).encode("utf-8")
        data = data[: self.SLOT_SIZE].ljust(self.SLOT_SIZE, b" ")
        fd = os.open(self.slot_path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))  # must exist: pre-allocated
        try:
            os.pwrite(fd, data, 0)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _read_slot(self) -> Optional[dict]:
        try:
            with open(self.slot_path, "rb") as f:
                data = f.read(self.SLOT_SIZE + 1)
        except OSError:
            return None
        try:
            slot = json.loads(data.decode("utf-8").strip() or "null")
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None
        return slot if isinstance(slot, dict) else None

    class _NoLock:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

    def _status_lock(self):
        """A short exclusive lock around a status update (flock; nothing where there is none)."""
        if fcntl is None:
            return self._NoLock()
        return _Flock(self.status_lock_path)

    # -- one process per run

    def lock(self) -> ProcessLock:
        """The lock of the one process that may train in this folder (``.lock``; see
        :class:`lmkviz.locks.ProcessLock`). Not taken yet: call ``try_acquire()``."""
        return ProcessLock(self.lock_path)

    def remove_stale_temp_files(self) -> list[str]:
        """Remove the temporary files of killed writers (:func:`lmkviz.files.remove_stale_temp_files`),
        in the run folder and in its ``previews/``."""
        return remove_stale_temp_files(self.path) + remove_stale_temp_files(self.previews_path)

    # -- metrics

    def append_metrics(self, record: dict) -> None:
        """Append one record as a JSON line. When the file does not end with a newline (a
        line torn by a full disk), a newline comes first, so the torn line stays alone."""
        line = json.dumps(record, allow_nan=True) + "\n"
        with open(self.metrics_path, "a+b") as f:
            if f.tell() > 0:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    line = "\n" + line
            f.write(line.encode("utf-8"))
            f.flush()

    def metrics(self) -> list[dict]:
        """All complete metric records (JSON objects) in file order; a torn line from a kill
        and lines that are not objects are ignored."""
        records = []
        try:
            with open(self.metrics_path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    try:
                        record = json.loads(line)
                    except (ValueError, RecursionError):
                        continue
                    if isinstance(record, dict):
                        records.append(record)
        except (FileNotFoundError, IsADirectoryError):
            pass
        return records

    def truncate_history(self, epochs_done: int, epoch_records: Optional[list[dict]] = None) -> bool:
        """Make ``metrics.jsonl`` hold exactly what the checkpoint of ``epochs_done`` finished
        epochs knows: one record per step and per epoch up to that epoch, none after.

        Records of later epochs (the interrupted one, which a resume redoes) are dropped,
        repeated ones keep their last copy, and the ``epoch_records`` the checkpoint
        carries fill in any epoch record the file lost. The file is replaced atomically,
        only when something changes; True when it did.
        """
        records = self.metrics()
        last: dict[tuple[str, int], int] = {}
        for i, r in enumerate(records):
            key = record_key(r)
            if key is not None:
                last[key] = i
        kept = []
        for i, r in enumerate(records):
            key = record_key(r)
            if key is not None and (r["epoch"] > epochs_done or last[key] != i):
                continue
            kept.append(r)  # a valid record of a finished epoch, or another kind of object
        have = {r["epoch"] for r in kept if record_key(r) is not None and r["kind"] == "epoch"}
        missing = [r for r in (epoch_records or []) if record_key(r) is not None and r["kind"] == "epoch"
                   and r["epoch"] <= epochs_done and r["epoch"] not in have]
        for r in missing:
            if r["epoch"] not in have:
                have.add(r["epoch"])
                kept.append(r)
        if len(missing) == 0 and len(kept) == len(records):
            try:
                raw = self.metrics_path.read_bytes()
            except OSError:
                raw = b""
            if raw.count(b"\n") == len(records) and (not raw or raw.endswith(b"\n")):
                return False  # nothing to drop, no torn line
        text = "".join(json.dumps(r, allow_nan=True) + "\n" for r in kept)
        atomic_write_text(self.metrics_path, text)
        return True

    def history(self) -> tuple[list[dict], list[dict]]:
        """(step records, epoch records), sorted, one per step and epoch (see :func:`dedupe_history`)."""
        return dedupe_history(self.metrics())

    # -- preview and finder results

    def write_preview(self, arrays: dict, epoch: Optional[int] = None) -> None:
        """Save the preview arrays (:meth:`preview`) atomically; with ``epoch`` (1-based) also
        keep them in the run's history of previews (:meth:`write_epoch_preview`)."""
        atomic_write_bytes(self.preview_path, _npz_bytes(arrays))
        if epoch is not None:
            self.write_epoch_preview(epoch, arrays)

    def epoch_preview_path(self, epoch: int) -> Path:
        """``previews/epoch-NNN.npz`` of ``epoch`` (1-based)."""
        return self.previews_path / f"epoch-{int(epoch):03d}.npz"

    def write_epoch_preview(self, epoch: int, arrays: dict) -> None:
        """Keep the preview of ``epoch`` (1-based): the arrays of :meth:`preview`, small.

        The fixed inputs (``images``, ``target``, ``indices``, ``image_size``) go to
        ``previews/inputs.npz``, written only when they are new or changed; the epoch's
        file holds ``heatmaps`` reduced to their maximum over landmarks, (n, 1, h, w)
        float16 (what the preview figure draws), and the ``pred_*``/``nme_*`` arrays (not
        the SimCC distributions, :data:`PREVIEW_NOT_KEPT`).
        Both are replaced atomically, inputs first: a kill at any instant leaves complete
        files (an epoch redone after a resume replaces its file).
        """
        import numpy as np

        inputs = {k: np.asarray(arrays[k]) for k in PREVIEW_INPUTS if k in arrays}
        stored = _read_npz(self.previews_path / "inputs.npz")
        if stored is None or set(stored) != set(inputs) or not all(
                stored[k].shape == v.shape and np.array_equal(stored[k], v) for k, v in inputs.items()):
            atomic_write_bytes(self.previews_path / "inputs.npz", _npz_bytes(inputs))
        own = {k: np.asarray(v) for k, v in arrays.items()
               if k not in PREVIEW_INPUTS and not k.startswith(PREVIEW_NOT_KEPT)}
        if "heatmaps" in own:
            maps = own["heatmaps"]
            own["heatmaps"] = maps.max(axis=1, keepdims=True).astype(np.float16) if maps.ndim == 4 else maps
        own["epoch"] = np.asarray(int(epoch))
        atomic_write_bytes(self.epoch_preview_path(epoch), _npz_bytes(own))

    def preview_epochs(self) -> list[int]:
        """The epochs (1-based, ascending) whose preview the run kept (``previews/epoch-NNN.npz``)."""
        try:
            names = [e.name for e in os.scandir(self.previews_path)]
        except OSError:
            return []
        return sorted(int(m.group(1)) for m in map(_EPOCH_PREVIEW.match, names) if m)

    def epoch_preview(self, epoch: int) -> Optional[dict]:
        """The preview of ``epoch`` (1-based) with the keys of :meth:`preview` (``heatmaps``
        is (n, 1, h, w): the maximum over landmarks) and ``epoch``; None when it was not kept,
        cannot be read, or does not match the stored inputs (a preview count changed on resume)."""
        own = _read_npz(self.epoch_preview_path(epoch))
        inputs = _read_npz(self.previews_path / "inputs.npz")
        if own is None or inputs is None:
            return None
        n = len(inputs.get("images", ()))
        if any(v.ndim and len(v) != n for k, v in own.items() if k.startswith(("pred_", "nme_", "heatmaps"))):
            return None
        return {**inputs, **own}

    def drop_previews_after(self, epoch: int) -> list[int]:
        """Delete the kept previews of the epochs after ``epoch`` (those of epochs that
        ``last.pt`` does not know: a run killed between the preview and the checkpoint);
        returns their epochs."""
        dropped = []
        for e in self.preview_epochs():
            if e > epoch:
                try:
                    self.epoch_preview_path(e).unlink()
                    dropped.append(e)
                except FileNotFoundError:
                    pass
        return dropped

    def preview(self) -> Optional[dict]:
        """The arrays of ``preview.npz`` ({name: array}), None when missing or unreadable.

        Written each epoch by the training loop: ``images`` (n, S, S, 3) uint8 network
        inputs; ``target`` and ``pred_<decoder>`` (n, k, 2) in input pixels;
        ``heatmaps`` (n, k, h, w) float16 scores in [0, 1]; ``indices`` (k,);
        ``image_size`` (2,) = (S, S); ``nme_<decoder>`` (n,) per-image NME (a fraction,
        in original image pixels with the scheme's eye corners; absent in runs made
        before it was added).
        """
        return _read_npz(self.preview_path)

    def lr_find_result(self) -> Optional[dict]:
        """``lr_find.json`` ({"lr", "loss", "suggested"}), None when not there (yet)."""
        return read_json(self.lr_find_path)

    # -- control

    def stop_requested(self) -> bool:
        return self.stop_path.exists()


PREVIEW_INPUTS = ("images", "target", "indices", "image_size")
"""The preview arrays that are the same every epoch (kept once in ``previews/inputs.npz``)."""

PREVIEW_NOT_KEPT = ("simcc_",)
"""Preview arrays left out of the kept epoch previews (large, and not drawn by the epoch replay)."""

_EPOCH_PREVIEW = re.compile(r"^epoch-(\d{3,})\.npz$")


def _npz_bytes(arrays: dict) -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def _read_npz(path: Path) -> Optional[dict]:
    """{name: array} of an .npz file, None when missing or unreadable."""
    import zipfile

    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError):
        return None


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
    import numpy as np

    values = preview.get(f"nme_{decoder}")
    if values is None or not np.isfinite(values).any():
        return None
    return [float(v) * 100 for v in values]


def _newer(slot: dict, status: dict) -> bool:
    a, b = slot.get("updated"), status.get("updated")
    if not isinstance(a, (int, float)) or isinstance(a, bool):
        return False
    if not isinstance(b, (int, float)) or isinstance(b, bool):
        return True
    return a > b


class _Flock:
    """``with _Flock(path):`` an exclusive flock for a few milliseconds; after 2 s of
    waiting (a holder that hangs) the update goes ahead without it."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: Optional[int] = None

    def __enter__(self) -> "_Flock":
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        except OSError:
            return self  # a read-only or full folder: the write itself will say so
        deadline = time.monotonic() + 2.0
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except OSError:
                if time.monotonic() > deadline:
                    return self
                time.sleep(0.005)

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
