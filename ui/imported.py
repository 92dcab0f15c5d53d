"""Bring your own model on Upload a face and Compare decoders: the sidebar's model source
(a checkpoint, or an ONNX / TorchScript heatmap model uploaded with its sidecar or a
small settings form), the cached predictor and its description.

An uploaded model is saved by :func:`lmkviz.imported.store_model` in :func:`models_folder`
(one folder per model and settings), so that the pages handle it like a checkpoint: a
path whose predictor and description come from :func:`predictor_for` and
:func:`model_info`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Optional

import streamlit as st

SOURCES = {"checkpoint": "Checkpoint", "imported": "Your model"}
"""The model sources of the sidebar."""

MODEL_TYPES = ["onnx", "pt", "pth", "ts", "torchscript", "jit"]
"""File types the model uploader accepts (see :data:`lmkviz.imported.MODEL_SUFFIXES`)."""

LAYOUTS = {"NKHW": "N × K × H × W (heatmaps first, as lmkviz and mmpose)", "NHWK": "N × H × W × K"}
VALUE_RANGES = {"0, 1": "0 – 1", "0, 255": "0 – 255"}


def models_folder() -> Path:
    """Where uploaded models are kept: ``$LMKVIZ_MODELS`` or a folder in the system's temp dir."""
    return Path(os.environ.get("LMKVIZ_MODELS") or Path(tempfile.gettempdir()) / "lmkviz-models")


def is_imported(path: Optional[str]) -> bool:
    """True for the path of an uploaded model (under :func:`models_folder`), False for a checkpoint."""
    if not path:
        return False
    try:
        return Path(path).resolve().parent.parent == models_folder().resolve()
    except OSError:
        return False


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def _imported_predictor(path: str, mtime: float):
    from lmkviz.imported import load_model

    return load_model(path)


def predictor_for(path: str, mtime: float = 0.0):
    """The predictor of a checkpoint (:func:`ui.common.predictor_cached`) or of an uploaded
    model (:func:`lmkviz.imported.load_model`), loaded once per file version."""
    from ui.common import predictor_cached

    if is_imported(path):
        return _imported_predictor(path, mtime)
    return predictor_cached(path, mtime)


def model_info(path: str, mtime: float):
    """:class:`lmkviz.checkpoint.CheckpointInfo` of a checkpoint or an uploaded model, or the
    error message as a str."""
    from ui.common import checkpoint_info

    if not is_imported(path):
        return checkpoint_info(path, mtime)
    try:
        return _imported_predictor(path, mtime).describe()
    except ValueError as err:
        return str(err)


def source_picker(prefix: str) -> str:
    """The sidebar's choice of model source ("checkpoint" or "imported"), key ``<prefix>_model``."""
    st.session_state.setdefault(f"{prefix}_model", "checkpoint")
    return st.segmented_control(
        "Model", list(SOURCES), required=True, format_func=SOURCES.get,
        key=f"{prefix}_model",
        help="A checkpoint trained here (or the shipped one), or your own heatmap model exported to ONNX or "
             "TorchScript (e.g. by `lmkviz export`, or an mmpose model).")


def imported_model(prefix: str) -> Optional[str]:
    """Model uploader, sidecar uploader and (without a sidecar) the settings form, drawn where
    called (the sidebar). Returns the path of the stored model, or None (with a message) until
    there is a usable one."""
    from lmkviz.imported import settings_from_form, store_model

    file = st.file_uploader("ONNX or TorchScript heatmap model", type=MODEL_TYPES, key=f"{prefix}_model_file",
                            help="A network that takes an image (N × 3 × H × W) and returns one heatmap per "
                                 "landmark. TorchScript files are programs: load only those you trust.")
    sidecar = st.file_uploader("Its sidecar (.json, optional)", type=["json"], key=f"{prefix}_model_sidecar",
                               help="The MODEL.json that `lmkviz export` writes beside the model. Without it, "
                                    "fill in the settings below.")
    if file is None:
        st.caption("Upload a model: the page then shows its heatmaps, points and decoders.")
        return None
    settings = None
    if sidecar is None:
        settings = _settings_form(prefix, settings_from_form)
        if settings is None:
            return None
    try:
        path = store_model(file.getvalue(), file.name, models_folder(),
                           sidecar=sidecar.getvalue() if sidecar is not None else None, settings=settings)
    except (ValueError, OSError) as err:
        st.error(str(err))
        return None
    return str(path)


def _settings_form(prefix: str, settings_from_form):
    """The form for a model without a sidecar; the settings once submitted (None before, or
    with a message when a field is wrong)."""
    done = f"{prefix}_model_form_done"
    with st.form(f"{prefix}_model_form", border=True):
        st.caption("No sidecar: how does the model want its input, and what does it return?")
        c = st.columns(2)
        height = c[0].number_input("Input height (px)", 8, 4096, 256, 1, key=f"{prefix}_mf_h")
        width = c[1].number_input("Input width (px)", 8, 4096, 256, 1, key=f"{prefix}_mf_w")
        order = st.radio("Channel order", ["RGB", "BGR"], horizontal=True, key=f"{prefix}_mf_order")
        value_range = st.selectbox("Pixel values before normalising", list(VALUE_RANGES), format_func=VALUE_RANGES.get,
                                   key=f"{prefix}_mf_range")
        mean = st.text_input("Mean per channel", "0, 0, 0", key=f"{prefix}_mf_mean",
                             help="In the pixel range above, in the channel order above, e.g. "
                                  "123.675, 116.28, 103.53 for ImageNet in 0 – 255 (0, 0, 0 when the model "
                                  "normalises inside).")
        std = st.text_input("Std per channel", "1, 1, 1", key=f"{prefix}_mf_std")
        layout = st.selectbox("Output layout", list(LAYOUTS), format_func=LAYOUTS.get, key=f"{prefix}_mf_layout")
        points = st.number_input("Landmarks (heatmaps it returns)", 1, 1000, 68, 1, key=f"{prefix}_mf_points",
                                 help="68 for iBUG / 300-W, 106 for LaPa.")
        values = st.radio("Its output", ["heatmaps", "logits"], horizontal=True, key=f"{prefix}_mf_values",
                          help="heatmaps: Gaussian-like scores; logits: binary maps trained with BCE.")
        if st.form_submit_button("Use these settings", type="primary"):
            st.session_state[done] = True
    if not st.session_state.get(done):
        st.caption("Fill in the settings and press **Use these settings**.")
        return None
    try:
        return settings_from_form(height, width, order, value_range, mean, std, layout, num_points=points,
                                  output=values)
    except ValueError as err:
        st.error(str(err))
        return None


def model_label(path: str) -> str:
    """"your model · tiny.onnx" for an uploaded model."""
    return f"your model · {Path(path).name}"
