"""Figures of the Upload a face page: the photo with its face box, crop and landmarks; a PNG export.

Boxes are :class:`lmkviz.inference.Box`-like objects with ``x0, y0, x1, y1`` in image
pixels (continuous convention); points are {decoder: (K, 2)} in the same pixels.
"""

from __future__ import annotations

import io
from typing import Mapping, Optional, Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw

from lmkviz.viz.images import add_points, image_figure
from lmkviz.viz.style import DECODER_COLOURS, DECODER_LABELS, DECODER_SYMBOLS

FACE_COLOUR = "#FFFFFF"
CROP_COLOUR = "#0072B2"


def _rect(box, colour: str, dash: str, width: float = 2.0) -> dict:
    return dict(type="rect", x0=box.x0, y0=box.y0, x1=box.x1, y1=box.y1, line=dict(color=colour, width=width, dash=dash),
                fillcolor="rgba(0,0,0,0)", layer="above")


def photo_figure(image: np.ndarray, crop=None, face=None, points: Optional[Mapping[str, np.ndarray]] = None,
                 indices: Optional[Sequence[int]] = None, names: Optional[Sequence[str]] = None,
                 height: int = 560, point_size: Optional[int] = None, zoom: bool = False) -> go.Figure:
    """The whole (H, W, 3) photo with the detected face box (dashed white), the crop fed to the
    network (blue) and each decoder's landmarks.

    The view covers the photo and the crop, so a crop reaching past the border stays visible
    (the network sees black there); with ``zoom`` it shows the crop with a quarter of its side
    around it.
    """
    h, w = image.shape[:2]
    fig = image_figure(image, height=height)
    shapes = []
    if face is not None:
        shapes.append(_rect(face, FACE_COLOUR, "dash"))
    if crop is not None:
        shapes.append(_rect(crop, CROP_COLOUR, "solid", 3))
        x0, x1 = min(0.0, crop.x0), max(float(w), crop.x1)  # the photo and the crop
        y0, y1 = min(0.0, crop.y0), max(float(h), crop.y1)
        if zoom:  # the crop and a quarter of its side around it, within the above
            margin = 0.25 * max(crop.x1 - crop.x0, crop.y1 - crop.y0)
            x0, x1 = max(x0, crop.x0 - margin), min(x1, crop.x1 + margin)
            y0, y1 = max(y0, crop.y0 - margin), min(y1, crop.y1 + margin)
        pad = 0.02 * max(x1 - x0, y1 - y0)
        fig.update_xaxes(range=[x0 - pad, x1 + pad])
        fig.update_yaxes(range=[y1 + pad, y0 - pad])
    fig.update_layout(shapes=shapes)
    legend = []  # shapes have no legend entries: explain them with empty traces
    if face is not None:
        legend.append(("detected face", FACE_COLOUR, "dash"))
    if crop is not None:
        legend.append(("crop (network input)", CROP_COLOUR, "solid"))
    for label, colour, dash in legend:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=label,
                                 line=dict(color=colour if colour != FACE_COLOUR else "#888", dash=dash, width=2)))
    size = point_size or (7 if not indices or len(indices) <= 30 else 5)
    labels = list(names) if names is not None else None
    for name, pts in (points or {}).items():
        add_points(fig, pts, name=DECODER_LABELS.get(name, name), colour=DECODER_COLOURS.get(name, "#333"),
                   symbol=DECODER_SYMBOLS.get(name, "circle"), size=size, labels=labels,
                   index=list(indices) if indices is not None else None)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.01, xanchor="left", x=0),
                      margin=dict(l=0, r=0, t=0, b=30))
    return fig


def overlay_png(image: np.ndarray, points: Mapping[str, np.ndarray], crop=None, face=None,
                radius: Optional[float] = None) -> bytes:
    """The photo with each decoder's landmarks drawn on it (and the boxes), as PNG bytes.

    Drawn with Pillow at the photo's resolution: one filled dot per landmark in the
    decoder's colour with a dark outline, centred on the continuous point (x, y).
    """
    im = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(im)
    h, w = image.shape[:2]
    r = radius if radius is not None else max(1.5, min(h, w) / 180)
    line = max(1, round(r / 2.5))
    if face is not None:
        draw.rectangle([face.x0, face.y0, face.x1, face.y1], outline=(255, 255, 255), width=line)
    if crop is not None:
        draw.rectangle([crop.x0, crop.y0, crop.x1, crop.y1], outline=_rgb(CROP_COLOUR), width=line + 1)
    for name, pts in points.items():
        colour = _rgb(DECODER_COLOURS.get(name, "#FF0000"))
        for x, y in np.asarray(pts, dtype=float):
            if np.isfinite(x) and np.isfinite(y):
                draw.ellipse([x - r, y - r, x + r, y + r], fill=colour, outline=(20, 20, 20), width=max(1, line // 2))
    buffer = io.BytesIO()
    im.save(buffer, format="PNG")
    return buffer.getvalue()


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    value = hex_colour.lstrip("#")
    return tuple(int(value[i:i + 2], 16) for i in (0, 2, 4))
