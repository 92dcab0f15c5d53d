"""Pieces of the home page: the pipeline diagram, its live example, status tables."""

from __future__ import annotations

import re

import streamlit as st

from lmkviz.names import DECODER_LABELS

PIPELINE_DOT = """
digraph {
  rankdir=LR; bgcolor="transparent"; nodesep=0.3;
  node [shape=box, style="rounded,filled", fillcolor="#f4f4f4", color="#bbbbbb", fontname="sans-serif",
        fontsize=12, margin="0.15,0.08"];
  edge [color="#888888", fontname="sans-serif", fontsize=10];
  image [label="face image\\nS × S px"];
  net [label="network\\nUNet-ResNet18 / HRNet-18"];
  maps [label="K heatmaps\\nh × w cells", fillcolor="#e3eefa"];
  dec [label="decoder\\nargmax · quarter · top-k · DARK", fillcolor="#f7e6f0"];
  pts [label="K points\\n(x, y) in image px"];
  image -> net -> maps -> dec;
  dec -> pts [label="× stride S / w"];
  enc [label="training targets: encode\\nGaussian · integer Gaussian · binary", fillcolor="#fdf3d8"];
  enc -> maps [style=dashed, label="loss"];
}
"""
"""Graphviz source of the pipeline diagram."""

EXAMPLE = {"split": "val", "index": 3, "image_size": 256, "heatmap_size": 32, "sigma": 1.5, "landmark": 36}


@st.cache_data(show_spinner=False)
def pipeline_example() -> dict:
    """:func:`lmkviz.labs.pipeline_example` with the home page's settings (:data:`EXAMPLE`)."""
    from lmkviz.labs import pipeline_example as example

    return example(**EXAMPLE)


def example_caption(example: dict) -> str:
    """One line under the example: the settings and each decoder's error."""
    errors = ", ".join(f"{DECODER_LABELS[m]} {e:.2f} px" for m, e in example["errors"].items())
    return (f"A synthetic face ({EXAMPLE['image_size']} px) and the target heatmap of its {example['landmark']} "
            f"({EXAMPLE['heatmap_size']}×{EXAMPLE['heatmap_size']} cells, σ = {EXAMPLE['sigma']} cells, stride "
            f"{example['stride']:g}). Even from this perfect heatmap the decoders land at different places: "
            f"{errors}. The Encoding lab shows why.")


def short_device(label: str) -> str:
    """A metric-sized device name: "CPU" or the GPU's model without vendor words."""
    if label.startswith("CPU"):
        return "CPU"
    return re.sub(r"^(NVIDIA|AMD)\s+", "", label.replace(" (CUDA)", ""))[:22]


def short_path(path: str, limit: int = 44) -> str:
    """A folder for a narrow table cell: "~" for the home folder, the start cut to "…" when long
    (the end of a path names the dataset)."""
    import os

    text = str(path)
    home = os.path.expanduser("~")
    if home not in ("", "/", "~") and text.startswith(home + os.sep):
        text = "~" + text[len(home):]
    return text if len(text) <= limit else "…" + text[-(limit - 1):]


def dataset_rows(datasets: list[dict]) -> list[dict]:
    """Table rows: name, points and scheme, train/val/test counts, where (a short path)."""
    return [{"dataset": d["name"], "points": f"{d['points']} · {d['scheme']}",
             "train": d["splits"].get("train", 0), "val": d["splits"].get("val", 0),
             "test": d["splits"].get("test", 0), "where": short_path(d["path"]) if d["path"] else "generated on the fly"}
            for d in datasets]


DATASET_COLUMNS = {
    "dataset": st.column_config.TextColumn("dataset", width="small"),
    "points": st.column_config.TextColumn("points", width="small", help="landmarks per face and their scheme"),
    "train": st.column_config.NumberColumn("train", width=60, format="%d"),
    "val": st.column_config.NumberColumn("val", width=60, format="%d"),
    "test": st.column_config.NumberColumn("test", width=60, format="%d"),
    "where": st.column_config.TextColumn("where", width="large", help="the dataset's folder"),
}
"""Column widths that fit the Datasets table in the page at 1400 px."""


def trained_text(trained_at) -> str:
    """A checkpoint's training date (:attr:`lmkviz.checkpoint.CheckpointInfo.trained_at`) in local
    time, "22 Nov 2026 07:48", or "unknown" when the checkpoint does not say (never the file time)."""
    from datetime import datetime

    if not trained_at:
        return "unknown"
    try:
        return f"{datetime.fromisoformat(trained_at).astimezone():%d %b %Y %H:%M}"
    except (TypeError, ValueError):
        return "unknown"


def checkpoint_rows(checkpoints: list[dict], infos: list) -> list[dict]:
    """Table rows: file, where it comes from (shipped or the run), when it was trained, best
    validation NME, size. ``infos``: :func:`ui.common.checkpoint_info` of each (a
    :class:`lmkviz.checkpoint.CheckpointInfo`, or an error text for an unreadable file)."""
    rows = []
    for c, info in zip(checkpoints, infos):
        readable = not isinstance(info, str)
        best = info.best_val_nme() if readable else None
        rows.append({"checkpoint": c["name"],
                     "from": "shipped" if c["source"] == "shipped" else c["source"].removeprefix("run "),
                     "trained": trained_text(info.trained_at) if readable else "unreadable",
                     "val NME": f"{best[1]:.2f} %" if best else "—", "MB": round(c["size_mb"], 1)})
    return rows


CHECKPOINT_COLUMNS = {
    "checkpoint": st.column_config.TextColumn("checkpoint", width=80),
    "from": st.column_config.TextColumn("from", width="medium", help="shipped with lmkviz, or the run that saved it"),
    "trained": st.column_config.TextColumn("trained", width=130,
                                           help="when the weights were trained, as stored in the checkpoint "
                                                "(\"unknown\" when it does not say)"),
    "val NME": st.column_config.TextColumn("val NME", width=70, help="best validation NME stored in the checkpoint"),
    "MB": st.column_config.NumberColumn("MB", width=50, format="%.1f"),
}


def run_rows(runs) -> list[dict]:
    """Table rows for :class:`lmkviz.jobs.RunInfo` objects."""
    rows = []
    for r in runs:
        epochs = r.config.epochs if r.config else r.status.get("epochs", "?")
        finder = r.task == "lr_find"
        rows.append({"run": r.name, "state": r.state, "epoch": "LR finder" if finder else f"{r.epoch}/{epochs}",
                     "progress": r.progress})
    return rows


RUN_COLUMNS = {
    "run": st.column_config.TextColumn("run", width="medium"),
    "state": st.column_config.TextColumn("state", width=70),
    "epoch": st.column_config.TextColumn("epoch", width=75),
    "progress": st.column_config.ProgressColumn("progress", min_value=0, max_value=1, width=90),
}
