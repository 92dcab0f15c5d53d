"""The Upload a face page's Streamlit glue: examples, cached loading, detection and prediction,
the crop sliders' state and the download files."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Optional

import numpy as np
import streamlit as st

from ui import share

EXAMPLES = {"astronaut": "Example: astronaut (scikit-image)", "synthetic": "Example: synthetic face"}
SOURCES = {"upload": "Upload a photo", "camera": "Take a photo", **EXAMPLES}
"""The image sources of the page: {key: label}."""
CROP_KEYS = ("up_cx", "up_cy", "up_side")
"""Session-state key prefixes of the crop sliders (one set per image)."""

SHARED = {"img": "up_source", "model": "up_model", "ckpt": "up_checkpoint", "dec": "up_decoders",
          "colour": "up_colour_by", "zoom": "up_zoom", "lmk": "up_channel", "opacity": "up_opacity"}
"""The view in a shared link (:mod:`ui.share`): {query parameter: widget key}. An uploaded
photo or model is not in it (a link holds no files): such a link opens the upload widgets."""


def _names(text: str) -> list[str]:
    from lmkviz.decoding import DECODERS

    return [m for m in text.split(",") if m in DECODERS]


SHARED_PARSE = {"dec": _names, "zoom": share.parse_bool, "lmk": int, "opacity": share.within(0.0, 1.0, float)}
"""How each shared parameter is read back (see :data:`SHARED`)."""

VIEW_DEFAULTS = {"up_source": "astronaut", "up_model": "checkpoint", "up_colour_by": "confidence", "up_zoom": True,
                 "up_opacity": 0.6}


def view_defaults() -> None:
    """The widgets' first values, through session state (a link's values win: :mod:`ui.share`),
    set again on every run so that a widget a run does not draw comes back with its value
    (:func:`ui.common.keep_widget_state`)."""
    from ui.common import keep_widget_state

    keep_widget_state(SHARED.values(), VIEW_DEFAULTS)


def decoder_defaults(available) -> None:
    """The decoders drawn at first (argmax and DARK when the model has them); those a model
    does not have are dropped from the choice."""
    if "up_decoders" not in st.session_state:
        st.session_state["up_decoders"] = [m for m in ("argmax", "dark") if m in available]
    else:
        st.session_state["up_decoders"] = [m for m in st.session_state["up_decoders"] if m in available]


def keep_in_range(key: str, count: int) -> None:
    """Forget an index in session state that is not below ``count`` (a link's landmark number
    for another model)."""
    value = st.session_state.get(key)
    if value is not None and not (isinstance(value, int) and 0 <= value < count):
        st.session_state.pop(key)


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
def faces_cached(key: str, _image: np.ndarray) -> tuple[list, float]:
    """(face boxes of an image, largest first; milliseconds the search took when it ran);
    ``key`` identifies the image (:func:`lmkviz.inference.detect_faces_timed`)."""
    from lmkviz.inference import detect_faces_timed

    return detect_faces_timed(_image)


def crop_key(name: str, key: str, face: int) -> str:
    """The session-state key of one crop slider (``name`` from :data:`CROP_KEYS`) of image ``key``
    framed on face number ``face``: each face keeps its own crop."""
    return f"{name}:{key}:{face}"


def reset_crop(key: str) -> None:
    """``on_click``: forget the crop sliders of an image (for every face), so they start from the
    face again."""
    for state_key in list(st.session_state):
        if any(str(state_key).startswith(f"{name}:{key}") for name in CROP_KEYS):
            st.session_state.pop(state_key, None)


def face_options(faces: list) -> dict[int, str]:
    """{face number: "face 1 of 3 · largest · 252×252 px"} for the face selector."""
    from lmkviz.inference import face_label

    return {i: face_label(faces, i) for i in range(len(faces))}


@st.cache_data(max_entries=8, show_spinner=False)
def checkpoint_decoders(checkpoint: str, checkpoint_mtime: float) -> tuple[str, ...]:
    """The decoders that apply to a checkpoint's outputs (its codec's ``decoders``)."""
    from ui.imported import predictor_for

    return tuple(predictor_for(checkpoint, checkpoint_mtime).decoders)


QUALITY_BOXES = {"confident": ("success", ":material/verified:"), "unsure": ("warning", ":material/help:"),
                 "no_face": ("warning", ":material/visibility_off:")}
"""How each :class:`lmkviz.inference.Quality` level is shown: (st function, icon)."""


def show_quality(quality) -> None:
    """The prediction's :meth:`~lmkviz.inference.Quality.headline` in a box: green when
    confident, a warning otherwise."""
    kind, icon = QUALITY_BOXES[quality.level]
    getattr(st, kind)(quality.headline(), icon=icon)


def timing_caption(timings, detect_ms: Optional[float]) -> str:
    """"Time: detect 14 ms · crop 1 ms · network 38 ms · decode 5 ms · total 58 ms on CPU (...)"."""
    stages = timings.with_detect(detect_ms) if detect_ms is not None else timings
    return (f":material/timer: {stages.text()}, measured when this crop was first computed (network: "
            "with the resize to its input; decode: every decoder, back to your photo's pixels).")


@st.cache_data(max_entries=16, show_spinner="Finding the landmarks…")
def predict_cached(checkpoint: str, checkpoint_mtime: float, key: str, crop: tuple, face: Optional[tuple],
                   _image: np.ndarray):
    """Predictor output for one crop of an image (``key`` identifies the image; ``crop`` and the
    detected ``face`` (or None) are (x0, y0, x1, y1) in its pixels)."""
    from lmkviz.inference import Box
    from ui.imported import predictor_for

    predictor = predictor_for(checkpoint, checkpoint_mtime)
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
