"""The Train page's Streamlit glue: the form's state, job actions, texts and cached run readers.

Everything the page shows about training comes from the runs folder
(:func:`ui.common.runs_root`): jobs, progress, metrics and previews are read from
the run folders on every refresh, so a page left, a tab closed or a restarted server
finds the jobs where they are. Session state holds only the user's choices (the
form's values, the run being watched).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Optional

import streamlit as st

from ui.common import show_error

FORM_PREFIX = "tr_"
INPUT_SIZES = (64, 96, 128, 160, 192, 224, 256, 320, 384, 512)
DEVICE_LABELS = {"auto": "Auto", "cuda": "GPU", "cpu": "CPU"}
LOSS_TEXT = {
    "gaussian": "Loss: **MSE** between predicted and target Gaussian maps.",
    "gaussian_int": "Loss: **MSE** between predicted and target Gaussian maps (the blog's setup).",
    "binary": "Loss: **BCE with logits**, each target 1 weighted by `pos_weight` (one positive cell per map).",
}
STATE_ICONS = {"queued": ":material/hourglass_top:", "running": ":material/autorenew:", "done": ":material/check_circle:",
               "stopped": ":material/pause_circle:", "failed": ":material/error:", "broken": ":material/broken_image:"}
STATE_COLOURS = {"queued": "gray", "running": "blue", "done": "green", "stopped": "orange", "failed": "red",
                 "broken": "red"}
LIVE = ("queued", "running")
WATCH_KEY = "lab_watch"


# ============================================================================ actions


def act(action: Callable, *args, watch_result: bool = False, **kwargs) -> None:
    """Do a job action (:mod:`lmkviz.jobs` start, resume, delete, ...) and rerun the page to
    show its effect; an OSError or ValueError is shown as an error box instead. With
    ``watch_result`` the run folder the action returns becomes the watched run."""
    try:
        result = action(*args, **kwargs)
    except (OSError, ValueError) as err:
        show_error(err)
        return
    if watch_result:
        watch(Path(result).name)
    st.rerun()


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def use_lr(lr: float) -> None:
    """``on_click``: put a learning rate (the finder's suggestion) into the form."""
    st.session_state[FORM_PREFIX + "lr"] = float(f"{lr:.2e}")


def watch(name: str) -> None:
    """``on_click``: show this run in the live view."""
    st.session_state[WATCH_KEY] = name


# ============================================================================ the form


def model_label(name: str) -> str:
    """"hrnet18_small (1.2 M)": a model and its parameter count."""
    from lmkviz import models

    return f"{name} ({models.describe(name).num_parameters / 1e6:.1f} M)"


def preset_values(name: str) -> dict:
    """The form's session-state values for a preset of :data:`lmkviz.training.PRESETS`."""
    from lmkviz import models
    from lmkviz.training import PRESETS, make_codec

    config = PRESETS[name]
    heatmap = make_codec(config, models.describe(config.model).stride).heatmap_size[1]
    values = {
        "preset": name, "name": config.name, "dataset": config.data[0], "train_split": config.train_split,
        "val_split": config.val_split, "model": config.model, "encoding": config.encoding,
        "sigma": float(config.sigma), "pos_weight": float(config.pos_weight), "input_size": config.input_size,
        "heatmap_size": heatmap, "epochs": config.epochs,
        "batch_size": config.batch_size, "lr": float(config.lr), "device": config.device if config.device in
        DEVICE_LABELS else "auto", "augment": float(config.augment), "schedule": config.schedule,
        "limit_train": config.limit_train or 0, "limit_val": config.limit_val or 0, "workers": config.workers,
        "pretrained": bool(config.pretrained),
    }
    return {FORM_PREFIX + k: v for k, v in values.items()}


def apply_preset() -> None:
    """``on_change`` of the preset menu: fill the form with the chosen preset."""
    name = st.session_state.get(FORM_PREFIX + "preset", "quick-demo")
    for key, value in preset_values(name).items():
        st.session_state[key] = value


def train_images(dataset: dict, split: str, limit: Optional[int]) -> int:
    """How many training images a run on ``dataset``/``split`` with ``limit`` (0 = all) uses."""
    n = int(dataset["splits"].get(split, 0))
    return min(n, int(limit)) if limit else n


def config_from_form(values: dict, landmarks: str, dataset: Optional[dict] = None):
    """A :class:`lmkviz.training.TrainConfig` from the form's values (keys without the prefix).

    With ``dataset`` (a :func:`ui.common.dataset_choices` entry) steps are logged about four
    times per epoch, so that short demos draw smooth curves. Raises ValueError (naming the
    field) for an invalid combination.
    """
    from lmkviz.training import TrainConfig

    log_every = 10
    if dataset is not None:
        n = train_images(dataset, values["train_split"], values.get("limit_train"))
        steps = max(1, n // max(1, min(int(values["batch_size"]), max(n, 1))))
        log_every = max(1, min(10, steps // 4))
    return TrainConfig(
        name=(values.get("name") or "run").strip() or "run", data=(values["dataset"],),
        train_split=values["train_split"], val_split=values["val_split"], landmarks=landmarks,
        model=values["model"], encoding=values["encoding"], sigma=float(values["sigma"]),
        pos_weight=float(values["pos_weight"]), input_size=int(values["input_size"]),
        heatmap_size=int(values["heatmap_size"]), epochs=int(values["epochs"]),
        batch_size=int(values["batch_size"]), lr=float(values["lr"]), device=values["device"],
        augment=float(values["augment"]), schedule=values["schedule"],
        limit_train=int(values["limit_train"]) or None, limit_val=int(values["limit_val"]) or None,
        workers=int(values["workers"]), pretrained=bool(values["pretrained"]) and values["model"].startswith("unet"),
        log_every=log_every,
    )


def form_values() -> dict:
    """The form's current values without the prefix."""
    n = len(FORM_PREFIX)
    return {k[n:]: v for k, v in st.session_state.items() if str(k).startswith(FORM_PREFIX)}


def plan_text(config, dataset: dict, num_landmarks: int) -> str:
    """One line: how much work the form asks for."""
    from lmkviz import models
    from lmkviz.training import make_codec

    n_train = train_images(dataset, config.train_split, config.limit_train)
    n_val = train_images(dataset, config.val_split, config.limit_val)
    batch = max(1, min(config.batch_size, n_train or 1))
    per_epoch = max(1, n_train // batch)
    hm = make_codec(config, models.describe(config.model).stride).heatmap_size
    return (f"{n_train:,} training and {n_val:,} validation images · {num_landmarks} landmarks · "
            f"{config.input_size} px input → {hm[1]}×{hm[0]} heatmaps · {config.epochs} epochs × "
            f"{per_epoch} steps = {per_epoch * config.epochs:,} optimiser steps")


# ============================================================================ runs


def fmt_duration(seconds: Optional[float]) -> str:
    """"1:05:09", "3:07" or "?"."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "?"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def training_time(epochs: list[dict]) -> str:
    """Time spent in the finished epochs of a run's history, or "—" before the first."""
    return fmt_duration(sum(r.get("epoch_time_s", 0) for r in epochs)) if epochs else "—"


def progress_text(info) -> str:
    """What the progress bar of a run says: epoch, step, ETA (or why it waits)."""
    status = info.status
    epochs = info.config.epochs if info.config else status.get("epochs", 0)
    step, total = status.get("step", 0), status.get("total_steps")
    if info.task == "lr_find":
        return f"learning-rate finder · step {step}/{total or '?'}"
    if info.state == "queued":
        wait = status.get("waiting_for")
        return "queued" + (f": {wait}" if wait else ": starting…")
    parts = [f"epoch {info.epoch}/{epochs}"]
    if total:
        parts.append(f"step {step:,}/{total:,}")
    parts.append(f"{info.progress:.0%}")
    if info.state == "running":
        parts.append(f"ETA {fmt_duration(info.eta_s)}" if info.eta_s is not None else "ETA …")
    return " · ".join(parts)


def config_glance(config) -> str:
    """The config in one line: data, model, encoding, sizes, epochs, batch, lr, device."""
    if config is None:
        return "no readable config.json"
    from lmkviz.encoding import ENCODING_LABELS

    hm = f" → {config.heatmap_size} px maps" if config.heatmap_size else ""
    limit = f" (first {config.limit_train})" if config.limit_train else ""
    return (f"{', '.join(config.data)}/{config.train_split}{limit} · landmarks {config.landmarks} · "
            f"{config.model} · {ENCODING_LABELS.get(config.encoding, config.encoding)}"
            + (f" σ {config.sigma:g}" if config.encoding != "binary" else f" pos_weight {config.pos_weight:g}")
            + f" · {config.input_size} px{hm} · {config.epochs} epochs × batch {config.batch_size} · "
            f"lr {config.lr:.1e} · {config.device}")


def explain_error(error: Optional[str]) -> str:
    """A failed run's error in plain words, with what to do next (the raw text follows it)."""
    from lmkviz.jobs import DEAD_MESSAGE

    text = error or "the run failed without saying why"
    low = text.lower()
    if "disk full" in low or "no space left" in low:
        why = ("The **disk is full**: the run could not write its files. Free some space on the disk of the runs "
               "folder, then **Resume**: it continues from the last finished epoch.")
    elif text == DEAD_MESSAGE or "killed" in low or "terminated" in low:
        why = ("The training process ended without finishing: it was killed (for example by a restart of "
               "the machine or running out of memory). **Resume** continues from the last finished epoch.")
    elif "diverged" in low or "loss became" in low:
        why = ("Training **diverged**: the loss became infinite or NaN. Start again with a learning rate "
               "about 10× lower (the learning-rate finder suggests one).")
    elif "out of memory" in low:
        why = "The device **ran out of memory**. Lower the batch size or the input size and start again."
    elif "no cuda" in low or "cuda was asked" in low:
        why = "The run asked for a **GPU**, but none is available here. Choose CPU or Auto."
    elif "heatmap_size" in low or "stride" in low:
        why = "The **heatmap size** does not fit this model and input size. Pick another heatmap size."
    elif "dataset" in low or "split" in low or "no such file" in low or "not found" in low:
        why = "The **dataset** could not be read. Check it on the Dataset browser page."
    else:
        why = "The training process stopped with an error."
    return f"{why}\n\nError: `{text}`"


def explain_broken(error: Optional[str]) -> str:
    """Why a run folder is listed as broken, and what to do."""
    return ("This run folder **cannot be read**: a file in it was changed by hand or damaged. The other runs are "
            "not affected. Fix or remove the file named below, or delete the run.\n\n"
            f"Problem: `{error or 'unknown'}`")


@st.cache_data(max_entries=32, show_spinner=False)
def read_metrics(path: str, mtime: float, size: int) -> tuple[list[dict], list[dict]]:
    """(step records, epoch records) of a run's metrics.jsonl, one per step and epoch after
    resumes (:meth:`lmkviz.runs.RunFolder.history`; cached per file version)."""
    from lmkviz.runs import RunFolder

    return RunFolder(path).history()


def metrics_of(run: Path) -> tuple[list[dict], list[dict]]:
    path = Path(run) / "metrics.jsonl"
    try:
        stat = path.stat()
    except OSError:
        return [], []
    return read_metrics(str(run), stat.st_mtime, stat.st_size)


@st.cache_data(max_entries=16, show_spinner=False)
def read_preview(path: str, mtime: float) -> Optional[dict]:
    """The arrays of a run's preview.npz (:meth:`lmkviz.runs.RunFolder.preview`; cached per
    file version), None when unreadable."""
    from lmkviz.runs import RunFolder

    return RunFolder(path).preview()


def preview_of(run: Path) -> Optional[dict]:
    path = Path(run) / "preview.npz"
    try:
        return read_preview(str(run), path.stat().st_mtime)
    except OSError:
        return None


def lr_find_result(run: Path) -> Optional[dict]:
    """``lr_find.json`` of a finder run ({"lr", "loss", "suggested"}), None when not there yet."""
    from lmkviz.runs import RunFolder

    return RunFolder(run).lr_find_result()


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a text file ("" when missing)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 20_000))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
