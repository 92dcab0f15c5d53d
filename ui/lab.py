"""Shared pieces of the Train, Compare decoders and Upload a face pages: widgets' logic, cached
calls, texts and small table and file builders.

Everything a page shows about training comes from the runs folder
(:func:`ui.common.runs_root`): jobs, progress, metrics and previews are read from
the run folders on every refresh, so a page left, a tab closed or a restarted server
finds the jobs where they are. Session state holds only the user's choices (the
form's values, the run being watched).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from pathlib import Path
from typing import Optional

import numpy as np
import streamlit as st

from lmkviz.decoding import DECODER_LABELS, DECODERS

# ============================================================================ Train: the form

FORM_PREFIX = "tr_"
INPUT_SIZES = (64, 96, 128, 160, 192, 224, 256, 320, 384, 512)
DEVICE_LABELS = {"auto": "Auto", "cuda": "GPU", "cpu": "CPU"}
LOSS_TEXT = {
    "gaussian": "Loss: **MSE** between predicted and target Gaussian maps.",
    "gaussian_int": "Loss: **MSE** between predicted and target Gaussian maps (the blog's setup).",
    "binary": "Loss: **BCE with logits**, each target 1 weighted by `pos_weight` (one positive cell per map).",
}
STATE_ICONS = {"queued": ":material/hourglass_top:", "running": ":material/autorenew:", "done": ":material/check_circle:",
               "stopped": ":material/pause_circle:", "failed": ":material/error:"}
STATE_COLOURS = {"queued": "gray", "running": "blue", "done": "green", "stopped": "orange", "failed": "red"}
LIVE = ("queued", "running")


def page_link(script: str, label: str, icon: str) -> None:
    """``st.page_link``, or the label in bold when the page runs on its own (AppTest of one page)."""
    from streamlit.errors import StreamlitAPIException

    try:
        st.page_link(script, label=label, icon=icon)
    except StreamlitAPIException:
        st.markdown(f"**{label}**")


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def use_lr(lr: float) -> None:
    """``on_click``: put a learning rate (the finder's suggestion) into the form."""
    st.session_state[FORM_PREFIX + "lr"] = float(f"{lr:.2e}")


def watch(name: str) -> None:
    """``on_click``: show this run in the live view."""
    st.session_state["lab_watch"] = name


def preset_values(name: str) -> dict:
    """The form's session-state values for a preset of :data:`lmkviz.training.PRESETS`."""
    from lmkviz import models
    from lmkviz.training import PRESETS

    config = PRESETS[name]
    stride = models.describe(config.model).stride
    values = {
        "preset": name, "name": config.name, "dataset": config.data[0], "train_split": config.train_split,
        "val_split": config.val_split, "model": config.model, "encoding": config.encoding,
        "sigma": float(config.sigma), "pos_weight": float(config.pos_weight), "input_size": config.input_size,
        "heatmap_size": config.heatmap_size or max(1, config.input_size // stride), "epochs": config.epochs,
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


def ensure_choice(key: str, options, default=None) -> None:
    """Reset ``st.session_state[key]`` to ``default`` (or the first option) when it is not an option."""
    options = list(options)
    if st.session_state.get(key) not in options:
        st.session_state[key] = default if default in options else options[0]


def heatmap_sizes(model: str, input_size: int) -> list[int]:
    """Heatmap sides a model can output for an input side (:func:`lmkviz.training.heatmap_sizes`)."""
    from lmkviz.training import heatmap_sizes as allowed

    return allowed(model, input_size)


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
    from lmkviz.training import make_codec
    from lmkviz import models

    n_train = train_images(dataset, config.train_split, config.limit_train)
    n_val = train_images(dataset, config.val_split, config.limit_val)
    batch = max(1, min(config.batch_size, n_train or 1))
    steps = max(1, n_train // batch) * config.epochs
    hm = make_codec(config, models.describe(config.model).stride).heatmap_size
    return (f"{n_train:,} training and {n_val:,} validation images · {num_landmarks} landmarks · "
            f"{config.input_size} px input → {hm[1]}×{hm[0]} heatmaps · {config.epochs} epochs × "
            f"{steps // config.epochs} steps = {steps:,} optimiser steps")


# ============================================================================ Train: runs

def fmt_duration(seconds: Optional[float]) -> str:
    """"1:05:09", "3:07" or "?"."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "?"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


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
    if text == DEAD_MESSAGE or "killed" in low or "terminated" in low:
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


def best_epoch(epochs: list[dict], decoder: str) -> tuple[Optional[int], Optional[float]]:
    """(epoch, val NME %) of the epoch with the lowest validation NME of ``decoder``."""
    scored = [(r["val_nme"].get(decoder), r["epoch"]) for r in epochs
              if isinstance(r.get("val_nme", {}).get(decoder), (int, float)) and math.isfinite(r["val_nme"][decoder])]
    if not scored:
        return None, None
    value, epoch = min(scored)
    return epoch, value


def preview_errors(preview: dict, decoder: str) -> Optional[list[float]]:
    """Per-image NME (%) of the preview images as the training loop scored them (stored in
    preview.npz as ``nme_<decoder>``); None for runs made before it was stored."""
    values = preview.get(f"nme_{decoder}")
    if values is None or not np.isfinite(values).any():
        return None
    return [float(v) * 100 for v in values]


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


# ============================================================================ Compare decoders

def grid_shape(channels: int, width_px: int = 1100, max_cell: int = 150) -> tuple[int, int]:
    """(columns, panel px) for a heatmap grid about ``width_px`` wide: square panels, at most
    12 columns and ``max_cell`` px."""
    columns = min(channels, 12) if channels > 5 else max(channels, 1)
    if 12 < channels <= 36:
        columns = min(columns, 9)
    return columns, max(48, min(max_cell, width_px // columns))


def checkpoint_label(entry: dict) -> str:
    """Short enough for the sidebar: "shipped model · default.pt" or "quick-demo · best · 22 Nov 04:29"
    (a run's name, which file, when the run started)."""
    if not entry["source"].startswith("run "):
        return f"shipped model · {entry['name']}"
    from datetime import datetime

    folder = entry["source"][4:]
    parts = folder.split("-", 2)
    try:
        started = datetime.strptime("-".join(parts[:2]), "%Y%m%d-%H%M%S")
        name = parts[2] if len(parts) > 2 else "run"
        return f"{name} · {Path(entry['name']).stem} · {started:%d %b %H:%M}"
    except ValueError:
        return f"{folder} · {Path(entry['name']).stem}"


@st.cache_data(max_entries=64, show_spinner=False)
def checkpoint_summary(path: str, mtime: float) -> dict:
    """{"points", "scheme", "indices", "model", "encoding", "input", "heatmap", "epoch", "val_nme"}
    of a checkpoint, or {"error": message}."""
    from lmkviz import checkpoint as ckpt

    try:
        data = ckpt.load(path)
    except ckpt.CheckpointError as err:
        return {"error": str(err)}
    scheme = data["scheme"]
    codec = data["codec"]
    summary = data.get("summary", {})
    return {"points": int(scheme.get("num_points", data["model"]["num_points"])), "scheme": scheme.get("name"),
            "indices": [int(i) for i in scheme.get("indices", range(data["model"]["num_points"]))],
            "model": data["model"]["name"], "encoding": codec.get("encoding"), "sigma": codec.get("sigma"),
            "input": list(codec["image_size"]), "heatmap": list(codec["heatmap_size"]),
            "epoch": summary.get("epoch"), "val_nme": summary.get("val_nme") or {}}


def checkpoint_caption(info: dict) -> str:
    """What a checkpoint is: model, encoding, sizes, landmarks, training epoch and its val NME."""
    from lmkviz.encoding import ENCODING_LABELS

    k = len(info["indices"])
    points = f"all {k} {info['scheme']} points" if k == info["points"] else f"{k} of {info['points']} points"
    nme = info.get("val_nme") or {}
    best = min((v, m) for m, v in nme.items()) if nme else None
    return (f"{info['model']} · {ENCODING_LABELS.get(info['encoding'], info['encoding'])} · "
            f"{info['input'][1]} px → {info['heatmap'][1]}×{info['heatmap'][0]} heatmaps · {points}"
            + (f" · epoch {info['epoch']}" if info.get("epoch") else "")
            + (f" · val NME {best[0]:.2f} % ({DECODER_LABELS.get(best[1], best[1])})" if best else ""))


def summary_text(rows: list[dict], best: dict, info: dict) -> str:
    """A sentence under the table: who wins and why it matters."""
    argmax = next((r for r in rows if r["decoder"] == DECODER_LABELS["argmax"]), None)
    if argmax is None or best is argmax or not argmax["NME %"]:
        return f"**{best['decoder']}** has the lowest error here."
    gain = 100 * (argmax["NME %"] - best["NME %"]) / argmax["NME %"]
    cell = info["input"][1] / max(info["heatmap"][1], 1)
    return (f"**{best['decoder']}** has the lowest error: {gain:.0f} % below argmax, from the same heatmaps. "
            f"argmax can only answer cell centres ({cell:g} input px apart here); the others read the "
            "position inside the cell from the neighbouring values.")


@st.cache_data(max_entries=16, show_spinner=False)
def name_positions(dataset: str, split: str) -> dict:
    """{sample name: index in the split} (evaluations skip unreadable images, so rows and
    indices can differ)."""
    from ui.common import open_split_cached

    reader = open_split_cached(dataset, split)
    names = getattr(reader, "names", None) or [reader[i].name for i in range(len(reader))]
    return {name: i for i, name in enumerate(names)}


def mtime(path: str) -> float:
    try:
        return Path(path).stat().st_mtime
    except OSError:
        return 0.0


@st.cache_data(max_entries=16, show_spinner=False)
def evaluation_cached(checkpoint: str, checkpoint_mtime: float, dataset: str, split: str, n: int):
    """:func:`lmkviz.evaluation.evaluate` of a checkpoint on the first ``n`` images of a split,
    with a progress bar while it runs (cached per checkpoint version, dataset, split and n)."""
    from lmkviz.evaluation import evaluate
    from ui.common import predictor_cached

    bar = st.progress(0.0, text=f"Evaluating {n} images with every decoder…")

    def progress(done: int, total: int) -> None:
        bar.progress(min(1.0, done / max(total, 1)), text=f"Evaluating: {done} of {total} images")

    try:
        result = evaluate(predictor_cached(checkpoint, checkpoint_mtime), dataset, split, limit=n,
                          progress=progress)
    finally:
        bar.empty()
    return result


def summary_rows(evaluation) -> list[dict]:
    """One row per decoder: NME %, FR@10 %, AUC@10 %, and the gain over argmax."""
    s = evaluation.summary()
    base = s["nme"].get("argmax")
    rows = []
    for m in evaluation.nme:
        nme = s["nme"][m]
        rows.append({"decoder": DECODER_LABELS.get(m, m), "NME %": nme, "FR@10 %": s["fr10"][m],
                     "AUC@10 %": s["auc10"][m],
                     "vs argmax": (f"{100 * (nme - base) / base:+.1f} %" if base and m != "argmax" else "—")})
    return rows


def ranked(evaluation, decoder: str) -> np.ndarray:
    """Sample positions sorted by the decoder's NME, worst first (NaN last)."""
    e = np.asarray(evaluation.nme[decoder], dtype=float)
    return np.argsort(np.where(np.isfinite(e), -e, np.inf), kind="stable")


@st.cache_data(max_entries=64, show_spinner=False)
def sample_heatmaps(checkpoint: str, checkpoint_mtime: float, dataset: str, split: str, index: int) -> dict:
    """The model's output on one dataset image: {"input": (S, S, 3) uint8 network input,
    "maps": (k, h, w) scores in [0, 1], "raw": (k, h, w) raw output, "points": {decoder: (k, 2) input px}}."""
    import torch

    from lmkviz.data import AugmentConfig, build_transform
    from ui.common import open_split_cached, predictor_cached

    predictor = predictor_cached(checkpoint, checkpoint_mtime)
    sample = open_split_cached(dataset, split)[int(index)]
    tensor, _ = build_transform(AugmentConfig(input_size=predictor.input_size), train=False)(sample.image, sample.points)
    raw = predictor.heatmaps(tensor[None])
    points = {m: predictor.codec.decode(raw, m)[0].cpu().numpy() for m in DECODERS}
    maps = torch.sigmoid(raw[0]) if predictor.codec.outputs_logits else raw[0]
    image = (tensor.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    return {"input": np.ascontiguousarray(image), "maps": maps.cpu().numpy().astype(np.float32),
            "raw": raw[0].cpu().numpy().astype(np.float32), "points": points,
            "input_size": predictor.input_size, "heatmap_size": tuple(predictor.codec.heatmap_size)}


# ============================================================================ Upload a face

EXAMPLES = {"astronaut": "Example: astronaut (scikit-image)", "synthetic": "Example: synthetic face"}


@st.cache_data(max_entries=4, show_spinner=False)
def example_image(name: str) -> bytes:
    """A built-in example as PNG bytes (so that it takes the same path as an upload)."""
    from PIL import Image

    if name == "astronaut":
        from skimage import data

        array = data.astronaut()
    else:
        from lmkviz.data.synthetic import render_face

        array, _ = render_face(7, 384)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def digest(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()[:16]


@st.cache_data(max_entries=8, show_spinner="Reading the image…")
def load_image_cached(data: bytes, name: str):
    """:func:`lmkviz.inference.load_image` of uploaded bytes, or the error message as a str."""
    from lmkviz.inference import load_image

    try:
        loaded = load_image(data, name=name)
    except ValueError as err:
        return str(err)
    return loaded


@st.cache_data(max_entries=16, show_spinner="Looking for faces…")
def faces_cached(key: str, _image: np.ndarray) -> list:
    """Face boxes of an image (largest first); ``key`` identifies the image."""
    from lmkviz.inference import detect_faces

    return detect_faces(_image)


def initial_crop(image_shape, faces) -> tuple[float, float, float]:
    """(centre x, centre y, side) of the starting crop: from the largest face, else the whole image."""
    from lmkviz.inference import crop_from_face

    h, w = image_shape[:2]
    if faces:
        box = crop_from_face(faces[0])
        return (*box.centre, box.width)
    return w / 2, h / 2, float(max(h, w))


def reset_crop(key: str) -> None:
    """``on_click``: forget the crop sliders of an image, so they start from the face again."""
    for name in ("up_cx", "up_cy", "up_side"):
        st.session_state.pop(f"{name}:{key}", None)


def crop_box(cx: float, cy: float, side: float):
    from lmkviz.inference import Box

    return Box(cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


@st.cache_data(max_entries=16, show_spinner="Finding the landmarks…")
def predict_cached(checkpoint: str, checkpoint_mtime: float, key: str, crop: tuple, _image: np.ndarray):
    """Predictor output for one crop of an image (``key`` identifies the image, ``crop`` is
    (x0, y0, x1, y1) in its pixels)."""
    from lmkviz.inference import Box
    from ui.common import predictor_cached

    predictor = predictor_cached(checkpoint, checkpoint_mtime)
    return predictor.predict(_image, crop=Box(*crop))


def landmark_records(points: dict, scale: float, indices, names, confidence) -> list[dict]:
    """Rows (decoder, landmark, name, x, y, confidence) in ORIGINAL image pixels.

    points: {decoder: (k, 2)} in the (possibly downscaled) working image; scale: working
    pixels per original pixel (:attr:`lmkviz.inference.LoadedImage.scale`).
    """
    rows = []
    for m, pts in points.items():
        for j, (x, y) in enumerate(np.asarray(pts, dtype=float) / scale):
            i = int(indices[j])
            rows.append({"decoder": m, "landmark": i, "name": names[i] if names else str(i),
                         "x": round(float(x), 3), "y": round(float(y), 3),
                         "confidence": round(float(confidence[j]), 4)})
    return rows


def landmarks_csv(rows: list[dict]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["decoder", "landmark", "name", "x", "y", "confidence"])
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def landmarks_json(prediction, loaded, rows: list[dict], source: str, checkpoint: str) -> bytes:
    """The prediction as JSON, every coordinate in original image pixels."""
    inv = 1.0 / loaded.scale
    points: dict[str, list] = {}
    for r in rows:
        points.setdefault(r["decoder"], []).append([r["x"], r["y"]])
    data = {
        "image": {"source": source, "width": loaded.original_size[1], "height": loaded.original_size[0]},
        "checkpoint": Path(checkpoint).name, "scheme": prediction.scheme_name,
        "coordinates": "original image pixels; pixel j spans [j, j+1), centre j + 0.5",
        "face": None if prediction.face is None else [round(v * inv, 2) for v in prediction.face.as_list()],
        "crop": [round(v * inv, 2) for v in prediction.crop.as_list()],
        "landmarks": [int(i) for i in prediction.indices],
        "points": points,
        "confidence": [round(float(c), 4) for c in prediction.confidence],
        "notes": list(loaded.notes) + list(prediction.notes),
    }
    return json.dumps(data, indent=2).encode("utf-8")
