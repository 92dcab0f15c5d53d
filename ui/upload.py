"""The Upload a face page's Streamlit glue: examples, cached loading, detection and prediction,
the crop sliders' state and the download files."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Optional

import numpy as np
import streamlit as st

EXAMPLES = {"astronaut": "Example: astronaut (scikit-image)", "synthetic": "Example: synthetic face"}
CROP_KEYS = ("up_cx", "up_cy", "up_side")
"""Session-state key prefixes of the crop sliders (one set per image)."""


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


def reset_crop(key: str) -> None:
    """``on_click``: forget the crop sliders of an image, so they start from the face again."""
    for name in CROP_KEYS:
        st.session_state.pop(f"{name}:{key}", None)


@st.cache_data(max_entries=16, show_spinner="Finding the landmarks…")
def predict_cached(checkpoint: str, checkpoint_mtime: float, key: str, crop: tuple, face: Optional[tuple],
                   _image: np.ndarray):
    """Predictor output for one crop of an image (``key`` identifies the image; ``crop`` and the
    detected ``face`` (or None) are (x0, y0, x1, y1) in its pixels)."""
    from lmkviz.inference import Box
    from ui.common import predictor_cached

    predictor = predictor_cached(checkpoint, checkpoint_mtime)
    return predictor.predict(_image, crop=Box(*crop), face=None if face is None else Box(*face))


def download_record(prediction, loaded, source: str) -> dict:
    """The prediction in the original file's pixels as the JSON record of the downloads
    (:meth:`lmkviz.inference.Prediction.to_dict`, the schema of ``lmkviz predict --json``)."""
    return prediction.to_original(loaded).to_dict(source=source)


def landmarks_json(record: dict) -> bytes:
    return json.dumps(record, indent=2).encode("utf-8")


def landmarks_csv(record: dict) -> bytes:
    from lmkviz.inference import prediction_csv

    return prediction_csv(record).encode("utf-8")
