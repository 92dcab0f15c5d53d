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
    "mse": "Loss: **MSE** between predicted and target Gaussian maps.",
    "awing": "Loss: **Adaptive Wing** on the Gaussian maps (sharper near the peaks than MSE).",
    "bce": "Loss: **BCE with logits**, each target 1 weighted by `pos_weight` (one positive cell per map).",
    "kl": "Loss: **KL divergence** between the predicted and the target x and y bins.",
}
"""What each resolved loss (:attr:`lmkviz.training.TrainConfig.loss_name`) is, for the caption under
the encoding; a loss missing here is named as it is."""
LOSS_LABELS = {"auto": "the encoding's own", "mse": "MSE", "awing": "Adaptive Wing", "bce": "BCE with logits",
               "kl": "KL divergence"}
PRETRAINED = {"yes": True, "auto": "auto", "no": False}
PRETRAINED_LABELS = {"yes": "Required", "auto": "When available", "no": "No (from scratch)"}
PRESET_NOTE_KEY = "tr_preset_note"
STATE_ICONS = {"queued": ":material/hourglass_top:", "running": ":material/autorenew:", "done": ":material/check_circle:",
               "stopped": ":material/pause_circle:", "failed": ":material/error:", "broken": ":material/broken_image:"}
STATE_COLOURS = {"queued": "gray", "running": "blue", "done": "green", "stopped": "orange", "failed": "red",
                 "broken": "red"}
LIVE = ("queued", "running")
WATCH_KEY = "lab_watch"
VIEW = {"run": WATCH_KEY, "epoch": "lab_preview_epoch"}
"""The Train page's shareable view (:mod:`ui.share`): the watched run and the preview's epoch."""


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


def encoding_labels() -> dict[str, str]:
    """{encoding: label} of what a run can train against: the training config's own list when
    it has one (new codecs appear here without a change of the page), else the heatmap
    encodings of :mod:`lmkviz.encoding`."""
    from lmkviz.encoding import ENCODING_LABELS
    from lmkviz.training import config as training_config

    return dict(getattr(training_config, "TRAIN_ENCODING_LABELS", None) or ENCODING_LABELS)


def loss_text(encoding: str, loss: str) -> str:
    """The caption under the encoding: the loss the run will use."""
    from lmkviz.training import TrainConfig

    try:
        name = TrainConfig(encoding=encoding, loss=loss).loss_name
    except ValueError:
        name = loss
    return LOSS_TEXT.get(name, f"Loss: **{name}**.")


def sigma_field(encoding: str) -> tuple[str, str]:
    """(label, help) of the form's σ for ``encoding``: cells of a heatmap, bins of SimCC's vectors."""
    if encoding == "simcc":
        return "Sigma σ (bins)", ("SimCC's label smoothing: the standard deviation of the Gaussian x and y label "
                                  "vectors, in bins (SimCC bins per pixel, under Advanced).")
    return "Sigma σ (cells)", "Gaussian standard deviation in heatmap cells."


def option_key(model: str, option: str) -> str:
    """The session-state key of a model option's widget."""
    return f"{FORM_PREFIX}opt_{model}_{option}"


def preset_values(name: str) -> dict:
    """The form's session-state values for a preset of :data:`lmkviz.training.PRESETS` (the
    dataset fields excepted: see :func:`apply_preset`)."""
    from lmkviz import models
    from lmkviz.training import PRESETS, make_codec
    from lmkviz.training.options import model_options

    config = PRESETS[name]
    codec = make_codec(config, models.describe(config.model).stride)
    # SimCC and direct regression have no heatmaps: the form keeps the model's own size
    if not hasattr(codec, "heatmap_size"):
        codec = make_codec(config.replace(encoding="gaussian"), models.describe(config.model).stride)
    heatmap = codec.heatmap_size[1]
    pretrained = {True: "yes", "auto": "auto", False: "no"}.get(config.pretrained, "no")
    values = {
        "preset": name, "name": config.name, "train_split": config.train_split,
        "val_split": config.val_split, "model": config.model, "encoding": config.encoding,
        "sigma": float(config.sigma), "pos_weight": float(config.pos_weight), "input_size": config.input_size,
        "heatmap_size": heatmap, "epochs": config.epochs,
        "batch_size": config.batch_size, "lr": float(config.lr), "device": config.device if config.device in
        DEVICE_LABELS else "auto", "augment": float(config.augment), "schedule": config.schedule,
        "limit_train": config.limit_train or 0, "limit_val": config.limit_val or 0, "workers": config.workers,
        "pretrained": pretrained, "loss": config.loss, "weight_decay": float(config.weight_decay),
        "seed": int(config.seed), "framing": config.framing, "margin": float(config.margin),
        "rotation": float(config.rotation), "scale": (float(config.scale_min), float(config.scale_max)),
        "translate": float(config.translate), "flip": bool(config.flip), "color": float(config.color),
        "occlusion": float(config.occlusion), "blur": float(config.blur),
        "simcc_ratio": float(config.simcc_ratio), "coord_loss": float(config.coord_loss),
        "init_from": config.init_from or "",
    }
    out = {FORM_PREFIX + k: v for k, v in values.items()}
    for option, default in model_options(config.model).items():
        out[option_key(config.model, option)] = config.model_kwargs.get(option, default)
    return out


def apply_preset() -> None:
    """``on_change`` of the preset menu: fill the form with the chosen preset.

    The dataset the person chose stays, unless the preset is made for particular data
    (:func:`lmkviz.training.options.preset_data`, e.g. the shipped model's face68 + ytf68):
    then those datasets are chosen when they are here, and a note says what is missing
    when they are not.
    """
    from lmkviz.training.options import preset_data
    from ui.common import dataset_choices

    name = st.session_state.get(FORM_PREFIX + "preset", "quick-demo")
    for key, value in preset_values(name).items():
        st.session_state[key] = value
    st.session_state.pop(PRESET_NOTE_KEY, None)
    wanted = preset_data(name)
    if wanted is None:
        st.session_state.setdefault(FORM_PREFIX + "dataset", "synthetic")
        return
    by_name = {}
    for d in dataset_choices():
        by_name.setdefault(d["name"], d["key"])
        by_name.setdefault(d["key"], d["key"])
    found = [by_name[w] for w in wanted if w in by_name]
    missing = [w for w in wanted if w not in by_name]
    if found and not missing:
        st.session_state[FORM_PREFIX + "dataset"] = found[0]
        st.session_state[FORM_PREFIX + "also"] = found[1:]
    else:
        st.session_state[PRESET_NOTE_KEY] = (
            f"This preset is made for {' + '.join(wanted)}; {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not in the dataset list here, so the dataset below was kept. "
            "Add the folders with LMKVIZ_DATA or on the Dataset browser's Get data tab.")


def train_images(dataset: dict, split: str, limit: Optional[int]) -> int:
    """How many training images a run on ``dataset``/``split`` with ``limit`` (0 = all) uses."""
    n = int(dataset["splits"].get(split, 0))
    return min(n, int(limit)) if limit else n


def run_images(values: dict, dataset: dict, extra: tuple = ()) -> int:
    """Training images of the form's run: the train splits of ``dataset`` and the ``extra``
    datasets together, cut to the form's limit."""
    n = sum(int(d["splits"].get(values["train_split"], 0)) for d in (dataset, *extra))
    limit = values.get("limit_train")
    return min(n, int(limit)) if limit else n


def config_from_form(values: dict, landmarks: str, dataset: Optional[dict] = None, extra: tuple = ()):
    """A :class:`lmkviz.training.TrainConfig` from the form's values (keys without the prefix).

    With ``dataset`` (a :func:`ui.common.dataset_choices` entry; ``extra``: the datasets
    trained on as well) steps are logged about four times per epoch, so that short demos
    draw smooth curves. Raises ValueError (naming the field) for an invalid combination.
    """
    from lmkviz.training import TrainConfig
    from lmkviz.training.options import has_pretrained_weights, model_options

    log_every = 10
    if dataset is not None:
        n = run_images(values, dataset, extra)
        steps = max(1, n // max(1, min(int(values["batch_size"]), max(n, 1))))
        log_every = max(1, min(10, steps // 4))
    model = values["model"]
    options = {}
    for option, default in model_options(model).items():
        value = values.get(option_key(model, option)[len(FORM_PREFIX):], default)
        if value != default:
            options[option] = type(default)(value) if isinstance(default, (int, float)) else value
    pretrained = PRETRAINED.get(values.get("pretrained"), False) if has_pretrained_weights(model) else False
    scale = values.get("scale") or (0.75, 1.25)
    extra_keys = tuple(d["key"] for d in extra)
    return TrainConfig(
        name=(values.get("name") or "run").strip() or "run", data=(values["dataset"], *extra_keys),
        val_data=values["dataset"] if extra_keys else None,
        train_split=values["train_split"], val_split=values["val_split"], landmarks=landmarks,
        model=model, model_kwargs=options, pretrained=pretrained, init_from=values.get("init_from") or None,
        encoding=values["encoding"],
        sigma=float(values["sigma"]), pos_weight=float(values["pos_weight"]), input_size=int(values["input_size"]),
        heatmap_size=int(values["heatmap_size"]), epochs=int(values["epochs"]),
        batch_size=int(values["batch_size"]), lr=float(values["lr"]), device=values["device"],
        loss=values.get("loss", "auto"), weight_decay=float(values.get("weight_decay", 1e-4)),
        seed=int(values.get("seed", 0)), augment=float(values["augment"]), schedule=values["schedule"],
        framing=values.get("framing", "image"), margin=float(values.get("margin", 1.7)),
        rotation=float(values.get("rotation", 30.0)), scale_min=float(scale[0]), scale_max=float(scale[1]),
        translate=float(values.get("translate", 0.1)), flip=bool(values.get("flip", True)),
        color=float(values.get("color", 0.3)), occlusion=float(values.get("occlusion", 0.0)),
        blur=float(values.get("blur", 0.0)),
        simcc_ratio=float(values.get("simcc_ratio", 2.0)), coord_loss=float(values.get("coord_loss", 0.0)),
        limit_train=int(values["limit_train"]) or None, limit_val=int(values["limit_val"]) or None,
        workers=int(values["workers"]), log_every=log_every,
    )


def form_values() -> dict:
    """The form's current values without the prefix."""
    n = len(FORM_PREFIX)
    return {k[n:]: v for k, v in st.session_state.items() if str(k).startswith(FORM_PREFIX)}


def plan_text(config, dataset: dict, num_landmarks: int, extra: tuple = ()) -> str:
    """One line: how much work the form asks for."""
    from lmkviz import models
    from lmkviz.training import make_codec

    n_train = run_images({"train_split": config.train_split, "limit_train": config.limit_train}, dataset, extra)
    n_val = train_images(dataset, config.val_split, config.limit_val)
    batch = max(1, min(config.batch_size, n_train or 1))
    per_epoch = max(1, n_train // batch)
    codec = make_codec(config, models.describe(config.model).stride)
    if hasattr(codec, "heatmap_size"):
        target = f"{codec.heatmap_size[1]}×{codec.heatmap_size[0]} heatmaps"
    elif hasattr(codec, "lengths"):  # SimCC: one x and one y label vector per landmark
        target = f"x and y vectors of {codec.lengths[0]} and {codec.lengths[1]} bins"
    else:
        target = "(x, y) directly"
    return (f"{n_train:,} training and {n_val:,} validation images · {num_landmarks} landmarks · "
            f"{config.input_size} px input → {target} · {config.epochs} epochs × "
            f"{per_epoch} steps = {per_epoch * config.epochs:,} optimiser steps")


PERSIST = dict(persist_state="session")


def augmentation_section() -> None:
    """The widgets of the "Augmentation" expander (each a field of :class:`lmkviz.training.TrainConfig`)."""
    from lmkviz.data.augment import FRAMINGS

    P = FORM_PREFIX
    st.caption("Random changes of every training image, so that the network learns faces, not pixels. The points "
               "move with the image. Validation images are never changed. The Dataset browser's Augmentation tab "
               "shows what they do.")
    c = st.columns([1.2, 1, 1, 1.3])
    c[0].slider("Strength", 0.0, 1.0, step=0.1, key=P + "augment", **PERSIST,
                help="Scales every random change below (0 = none, 1 = the full amounts).")
    c[1].radio("Framing", list(FRAMINGS), key=P + "framing", **PERSIST,
               format_func={"image": "whole image", "face": "face crop"}.get,
               help="Whole image: each training image resized to the input. Face crop: a square of *margin* × the "
                    "landmark box, moved and zoomed the way a face detector's box moves (what the Upload page "
                    "feeds the network).")
    c[2].number_input("Margin", min_value=1.0, max_value=4.0, step=0.1, key=P + "margin", **PERSIST,
                      disabled=st.session_state.get(P + "framing") != "face",
                      help="Face crop side / landmark box side (face crop only).")
    c[3].slider("Rotation (± degrees)", 0.0, 90.0, step=5.0, key=P + "rotation", **PERSIST,
                help="Largest random rotation at strength 1.")
    c = st.columns([1.3, 1, 1, 1, 1, 0.8])
    c[0].slider("Zoom range", 0.5, 2.0, step=0.05, key=P + "scale", **PERSIST,
                help="Smallest and largest random zoom at strength 1 (1 = unchanged; the range must contain 1).")
    c[1].slider("Shift (± fraction)", 0.0, 0.5, step=0.01, key=P + "translate", **PERSIST,
                help="Largest random shift as a fraction of the side.")
    c[2].slider("Colour jitter", 0.0, 1.0, step=0.05, key=P + "color", **PERSIST,
                help="Brightness, contrast and saturation changes.")
    c[3].slider("Occlusion", 0.0, 1.0, step=0.05, key=P + "occlusion", **PERSIST,
                help="Probability of a random rectangle hiding part of the face (face crop only): teaches the "
                     "network to guess hidden points from the others.")
    c[4].slider("Blur", 0.0, 1.0, step=0.05, key=P + "blur", **PERSIST,
                help="Probability of a Gaussian blur (face crop only), like a soft webcam image.")
    c[5].checkbox("Mirror", key=P + "flip", **PERSIST,
                  help="Random horizontal flips; left and right landmarks swap names (needs a scheme with pairs).")


def fine_tune_choices(model: str, encoding: str) -> dict[str, str]:
    """{path: label} of the checkpoints (shipped ones and the runs') a run of ``model`` with
    ``encoding`` can start from: the same architecture and the same kind of head (SimCC or
    heatmaps). Labels name the checkpoint, its landmark count and its best validation NME."""
    from ui.common import checkpoint_files, checkpoint_info, checkpoint_label, file_mtime

    out = {}
    for entry in checkpoint_files():
        info = checkpoint_info(entry["path"], file_mtime(entry["path"]))
        if isinstance(info, str) or info.model != model or (info.codec == "simcc") != (encoding == "simcc"):
            continue
        best = info.best_val_nme()
        out[entry["path"]] = (f"{checkpoint_label(entry)} · {len(info.indices)} points"
                              + (f" · val NME {best[1]:.2f} %" if best else ""))
    return out


def advanced_section(model: str, encoding: str, dataset: dict, datasets: dict) -> tuple:
    """The widgets of the "Advanced" expander; returns the extra training datasets chosen (dicts)."""
    from lmkviz.training.options import has_pretrained_weights, losses_for, model_option_help, model_options

    P = FORM_PREFIX
    c = st.columns([1.4, 1.6, 1, 1])
    losses = losses_for(encoding)
    if st.session_state.get(P + "loss") not in losses:
        st.session_state[P + "loss"] = "auto"
    c[0].selectbox("Loss", losses, key=P + "loss", **PERSIST, format_func=lambda n: LOSS_LABELS.get(n, n),
                   help="The encoding's own loss (MSE for Gaussian maps, BCE for binary maps), or Adaptive Wing, "
                        "which weighs the cells near each peak more (Wang et al. 2019; about 1 % better NME).")
    weights = has_pretrained_weights(model)
    c[1].segmented_control("ImageNet weights", list(PRETRAINED), format_func=PRETRAINED_LABELS.get,
                           key=P + "pretrained", required=True, disabled=not weights, **PERSIST,
                           help="Start the encoder from ImageNet weights. Required: the run fails with a clear "
                                "message when they cannot be had; when available: else from scratch with a "
                                "warning." + ("" if weights else f" {model} has no ImageNet weights: it is "
                                                                  "trained from scratch."))
    c[2].number_input("Weight decay", min_value=0.0, max_value=1.0, step=1e-4, format="%.1e",
                      key=P + "weight_decay", **PERSIST, help="AdamW weight decay.")
    c[3].number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key=P + "seed", **PERSIST,
                      help="Random seed of weights, shuffling and augmentation.")
    starts = fine_tune_choices(model, encoding)
    start_key = P + "init_from"
    if st.session_state.get(start_key) not in ("", *starts):
        st.session_state[start_key] = ""
    st.selectbox("Start from a checkpoint (fine-tune)", ["", *starts], key=start_key, **PERSIST,
                 format_func=lambda p: starts.get(p, "No: from ImageNet weights or from scratch, as set here"),
                 help=f"Fine-tuning: the run starts from the weights of a checkpoint of the same model ({model}, "
                      "with the same kind of head) and landmark count, say the shipped model on your own faces. "
                      "Optimiser and schedule start afresh: a lower learning rate (about a quarter) usually "
                      "suits. The ImageNet setting is then not used.")
    opts = model_options(model)
    if opts:
        cols = st.columns(max(4, len(opts)))
        for col, (option, default) in zip(cols, opts.items()):
            key = option_key(model, option)
            if key not in st.session_state:
                st.session_state[key] = default
            col.number_input(f"{model}: {option}", step=1, key=key, **PERSIST,
                             help=(model_option_help(model, option) or f"an argument of {model}") +
                                  f" (default {default})")
    c = st.columns([1, 1, 2])
    c[0].number_input("SimCC bins per pixel", min_value=1.0, max_value=4.0, step=0.5, key=P + "simcc_ratio",
                      **PERSIST, disabled=encoding != "simcc",
                      help="SimCC's splitting ratio: each input pixel gets this many bins in the x and y label "
                           "vectors (σ is then in bins). Only for the SimCC encoding.")
    c[1].number_input("Coordinate loss weight", min_value=0.0, max_value=100.0, step=0.01, format="%.3f",
                      key=P + "coord_loss", **PERSIST, disabled=encoding == "binary",
                      help="Adds an L1 loss on the soft-argmax points (in input pixels, integral regression) "
                           "to the heatmap or SimCC loss; 0 = off.")
    c = st.columns([1, 1.3, 1.3, 1])
    c[0].radio("Schedule", ["onecycle", "constant"], key=P + "schedule", **PERSIST,
               format_func={"onecycle": "one-cycle", "constant": "constant"}.get)
    c[1].number_input("Use only the first N training images (0 = all)", min_value=0, step=32,
                      key=P + "limit_train", **PERSIST)
    c[2].number_input("… and N validation images (0 = all)", min_value=0, step=16, key=P + "limit_val", **PERSIST)
    c[3].number_input("Data-loading workers", min_value=0, max_value=16, key=P + "workers", **PERSIST)
    same = {k: d for k, d in datasets.items() if d["points"] == dataset["points"] and k != dataset["key"]}
    st.session_state[P + "also"] = [k for k in st.session_state.get(P + "also", []) if k in same]
    from ui.common import dataset_label

    also = st.multiselect("Also train on", list(same), key=P + "also", format_func=lambda k: dataset_label(same[k]),
                          help="More datasets with the same landmarks: their training splits are added to the "
                               "chosen one's. Validation stays on the dataset chosen above.")
    return tuple(same[k] for k in also)


# ============================================================================ time estimate


def past_runs(runs) -> list:
    """(config, epoch records, name) of the training runs (:class:`lmkviz.jobs.RunInfo`, newest first)
    for :func:`lmkviz.training.estimate.past_throughput`."""
    return [(r.config, metrics_of(r.path)[1], r.name) for r in runs if r.config is not None]


def retime() -> None:
    """``on_click`` of "Time again"."""
    st.session_state["tr_retime"] = True


def show_estimate(config, n_train: int, n_val: int, num_points: int, runs) -> None:
    """How long the form's run takes here: a timing of a few steps on this machine (cached per model,
    size, batch and device) and the rate of earlier runs, with a warning for heavy CPU runs."""
    from lmkviz.training import estimate as est

    try:
        key = est.throughput_key(config)
        measured = None if st.session_state.pop("tr_retime", False) else est.cached_throughput(key)
        if measured is None:
            with st.spinner(f"Timing a few training steps of {config.model} at {config.input_size} px on this "
                            "machine…"):
                measured = est.time_training(config, num_points=num_points)
            est.store_throughput(key, measured)
    except (ValueError, RuntimeError) as err:
        st.caption(f"No time estimate: {err}")
        return
    result = est.estimate(config, n_train, n_val, measured)
    past = est.past_throughput(past_runs(runs), config)
    text = (f":material/timer: **About {est.format_duration(result.total_s)} on this machine** "
            f"({est.format_duration(result.per_epoch_s)} per epoch): {measured.images_per_s:.1f} training "
            f"images/s and {1000 * measured.load_s:.0f} ms to load one, measured with {measured.detail}.")
    if past is not None:
        text += (f" Earlier: {past.images_per_s:.1f} images/s ({past.detail}), which gives about "
                 f"{est.format_duration(est.estimate(config, n_train, n_val, past).total_s)}.")
    c = st.columns([6, 1], vertical_alignment="center")
    c[0].caption(text + " Other jobs on the same machine slow it down.")
    c[1].button("Time again", key="trb_retime", icon=":material/timer:", on_click=retime,
                help="Measure again (the machine may be busier or quieter now)")
    warning = est.cpu_warning(config, result)
    if warning:
        st.warning(warning, icon=":material/hourglass_bottom:")


# ============================================================================ the learning-rate finder


FINDER_OPEN_KEY = "tr_lrf_open"
FINDER_STEPS_KEY = "lab_lrf_steps"


def finder_expanded(finders) -> bool:
    """The finder's expander stays open while a finder runs and, once this session started one,
    after it has finished (its result is the point)."""
    return any(r.state in LIVE for r in finders) or bool(st.session_state.get(FINDER_OPEN_KEY))


def finder_batches(finders, default: int = 60) -> int:
    """The finder's "Batches" when the form is new: the newest finder run's, else ``default``."""
    for r in finders:
        total = r.status.get("total_steps")
        if isinstance(total, int) and total > 0:
            return total
    return default


def finder_glance(info) -> str:
    """What a finder run tried: data, model, encoding, input size, batch and batches, learning rates."""
    config = info.config
    if config is None:
        return "no readable config.json"
    labels = encoding_labels()
    batches = info.status.get("total_steps")
    return (f"{', '.join(config.data)}/{config.train_split} · {config.model} · "
            f"{labels.get(config.encoding, config.encoding)} · {config.input_size} px · batch {config.batch_size}"
            + (f" · {batches} batches" if batches else "") + " · learning rate 1e-6 → 1")


def finder_advice(result: dict, current_lr: Optional[float]) -> tuple[dict, str]:
    """(readings of :func:`lmkviz.training.lr_find.lr_suggestions`, a text saying what they mean
    and why they differ from the form's rate)."""
    from lmkviz.training.lr_find import lr_suggestions

    found = lr_suggestions(result.get("lr") or [], result.get("loss") or [])
    if result.get("suggested"):
        found["steepest"] = float(result["suggested"])
    if "steepest" not in found:
        return found, "The curve is too short to read a rate from; run more batches."
    text = (f"**Steepest descent: {found['steepest']:.1e}**, where the smoothed loss falls fastest. It is the "
            "safe end of the range: a constant rate there learns steadily but slowly.")
    if "min_over_10" in found:
        text += (f" The loss is lowest at {found['minimum']:.1e}; a tenth of that, **{found['min_over_10']:.1e}**, "
                 "is fastai's other reading, the bold end: with the one-cycle schedule the rate only peaks there "
                 "for a moment, after a warm-up, and anneals, so its peak is usually chosen between the two "
                 "(often 10-50× the steepest point).")
    if current_lr:
        text += f" The form's {current_lr:.1e} "
        low, high = found["steepest"], found.get("min_over_10", found["steepest"])
        if low <= current_lr <= high * 1.5:
            text += "is in that range."
        elif current_lr > high * 1.5:
            text += "is above it: if the run diverges (NaN loss), lower it."
        else:
            text += "is below it: the run may learn slowly."
    return found, text


# ============================================================================ comparing runs


def compare_curves(info) -> dict:
    """A run's records for :func:`lmkviz.viz.training.compare_figure`."""
    from lmkviz.evaluation import primary_decoder

    steps, epochs = metrics_of(info.path)
    return {"label": info.name, "steps": steps, "epochs": epochs, "steps_per_epoch": info.status.get("steps_per_epoch"),
            "decoder": primary_decoder(info.config.encoding if info.config else "gaussian")}


def compare_rows(infos, primary_of, every_field: bool = False) -> list[dict]:
    """The comparison table: one row per run, its state and best validation NME, then the
    training-config fields that differ between the runs (all with ``every_field``;
    :func:`lmkviz.training.options.config_differences`)."""
    from lmkviz.runs import best_epoch
    from lmkviz.training.options import config_differences

    diff = config_differences([r.config for r in infos], all_fields=every_field)
    rows = []
    for i, r in enumerate(infos):
        decoder = primary_of(r)
        epoch, best = best_epoch(metrics_of(r.path)[1], decoder)
        row = {"run": r.name, "state": r.state, "best val NME": f"{best:.2f} % (epoch {epoch})" if best else "—"}
        row.update({field: str(values[i]) for field, values in diff.items()})
        rows.append(row)
    return rows


def highlight_differences(rows: list[dict], fixed: tuple = ("run", "state", "best val NME")):
    """A pandas Styler of ``rows`` that colours the hyper-parameter cells differing from the first run's."""
    import pandas as pd

    frame = pd.DataFrame(rows)

    def colour(column):
        if column.name in fixed:
            return [""] * len(column)
        return ["" if v == column.iloc[0] else "background-color: #fdf3d8" for v in column]

    return frame.style.apply(colour, axis=0)


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


@st.cache_data(max_entries=64, show_spinner=False)
def read_epoch_preview(path: str, epoch: int, mtime: float) -> Optional[dict]:
    """The kept preview of one epoch (:meth:`lmkviz.runs.RunFolder.epoch_preview`; cached per file version)."""
    from lmkviz.runs import RunFolder

    return RunFolder(path).epoch_preview(epoch)


def preview_epochs(run: Path) -> list[int]:
    """The epochs whose preview the run kept (1-based, ascending; [] for runs made before they were kept)."""
    from lmkviz.runs import RunFolder

    return RunFolder(run).preview_epochs()


def epoch_preview_of(run: Path, epoch: int) -> Optional[dict]:
    from lmkviz.runs import RunFolder

    try:
        mtime = RunFolder(run).epoch_preview_path(epoch).stat().st_mtime
    except OSError:
        return None
    return read_epoch_preview(str(run), int(epoch), mtime)


def preview_decoders(preview: dict) -> list[str]:
    """The decoders whose points a preview holds (``pred_<decoder>``): lmkviz's heatmap decoders in
    their usual order, then any other (a direct-regression model's "direct")."""
    from lmkviz.decoding import DECODERS

    found = [k[len("pred_"):] for k in preview if k.startswith("pred_")]
    return [m for m in DECODERS if m in found] + sorted(m for m in found if m not in DECODERS)


def decoder_label(name: str) -> str:
    from lmkviz.decoding import DECODER_LABELS

    return DECODER_LABELS.get(name, name)


PREVIEW_EPOCH_KEY = "lab_preview_epoch"
_PREVIEW_NEWEST_KEY = "_lab_preview_newest"


def follow_newest_epoch(run_name: str, epochs: list[int]) -> None:
    """Before the epoch slider: the newest epoch for a run just chosen, the chosen epoch while it is
    still offered, and the newest again when the slider sat on the newest and a new epoch came in
    (a live run's slider follows it unless it was moved back). An epoch set before the first draw
    (a shared link, :data:`VIEW`) is kept."""
    state = st.session_state
    newest = epochs[-1]
    seen = state.get(_PREVIEW_NEWEST_KEY)
    value = state.get(PREVIEW_EPOCH_KEY)
    # first draw in this session: keep an epoch that a shared link chose
    if value not in epochs or (seen is not None and (seen[0] != run_name or value == seen[1])):
        state[PREVIEW_EPOCH_KEY] = newest
    state[_PREVIEW_NEWEST_KEY] = (run_name, newest)


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
