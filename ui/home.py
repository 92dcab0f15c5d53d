"""Pieces of the home page: the pipeline diagram, its live example, status tables."""

from __future__ import annotations

import re

import streamlit as st

from lmkviz.decoding import DECODER_LABELS

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


def dataset_rows(datasets: list[dict]) -> list[dict]:
    """Table rows: name, scheme, train/val/test counts, location."""
    return [{"dataset": d["name"], "scheme": d["scheme"],
             "train": d["splits"].get("train", 0), "val": d["splits"].get("val", 0),
             "test": d["splits"].get("test", 0), "where": d["path"] or "generated on the fly"}
            for d in datasets]


def checkpoint_rows(checkpoints: list[dict], now: float) -> list[dict]:
    """Table rows: file, source, size, age."""
    def age(seconds: float) -> str:
        for unit, span in (("d", 86400), ("h", 3600), ("min", 60)):
            if seconds >= span:
                return f"{seconds / span:.0f} {unit} ago"
        return "just now"

    return [{"checkpoint": c["name"], "from": c["source"], "MB": round(c["size_mb"], 1),
             "saved": age(now - c["modified"])} for c in checkpoints]


def run_rows(runs) -> list[dict]:
    """Table rows for :class:`lmkviz.jobs.RunInfo` objects."""
    rows = []
    for r in runs:
        epochs = r.config.epochs if r.config else r.status.get("epochs", "?")
        rows.append({"run": r.name, "state": r.state, "epoch": f"{r.epoch}/{epochs}", "progress": r.progress,
                     "device": r.device})
    return rows
