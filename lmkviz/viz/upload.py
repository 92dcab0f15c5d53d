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

from lmkviz.viz.images import add_points, image_figure, png_uri
from lmkviz.viz.style import (
    CONFIDENCE_COLOURS,
    DECODER_COLOURS,
    DECODER_LABELS,
    DECODER_SYMBOLS,
    POINT_OUTLINE,
)

FACE_COLOUR = "#FFFFFF"
CROP_COLOUR = "#0072B2"
OUTSIDE_COLOUR = "#000000"
"""What the network sees where the crop leaves the photo (:func:`lmkviz.inference.crop_image` pads with black)."""
COLOUR_BY = ("confidence", "decoder")
"""What the landmarks of :func:`photo_figure` are coloured by."""


def _rect(box, colour: str, dash: str, width: float = 2.0) -> dict:
    return dict(type="rect", x0=box.x0, y0=box.y0, x1=box.x1, y1=box.y1, line=dict(color=colour, width=width, dash=dash),
                fillcolor="rgba(0,0,0,0)", layer="above")


def _level_scale() -> list:
    """A stepped colour scale for the levels 0, 1, 2 of :func:`lmkviz.inference.point_levels`
    (used with cmin -0.5, cmax 2.5)."""
    from lmkviz.inference import POINT_LEVELS

    scale = []
    for i, name in enumerate(POINT_LEVELS):
        scale += [[i / 3, CONFIDENCE_COLOURS[name]], [(i + 1) / 3, CONFIDENCE_COLOURS[name]]]
    return scale


def confidence_legend() -> dict[str, str]:
    """{level: legend text} of the landmark colours, the thresholds written out."""
    from lmkviz.inference import POINT_GUESS, POINT_SURE

    return {"sure": f"sure (heatmap peak ≥ {POINT_SURE:.2f})",
            "unsure": f"unsure ({POINT_GUESS:.2f} – {POINT_SURE:.2f})",
            "guess": f"guess (peak < {POINT_GUESS:.2f})"}


def photo_figure(image: np.ndarray, crop=None, face=None, points: Optional[Mapping[str, np.ndarray]] = None,
                 indices: Optional[Sequence[int]] = None, names: Optional[Sequence[str]] = None,
                 height: int = 560, point_size: Optional[int] = None, zoom: bool = False,
                 faces: Sequence = (), confidence: Optional[np.ndarray] = None,
                 colour_by: str = "decoder") -> go.Figure:
    """The whole (H, W, 3) photo with the detected faces (dashed white), the crop fed to the
    network (blue) and each decoder's landmarks.

    face: the face in use (thick dashed); faces: every detected face, largest first, drawn
    thin and numbered 1, 2, ... when there are several. The view covers the photo and the
    crop; where the crop leaves the photo it is black, as the network sees it. With
    ``zoom`` the view shows the crop with a quarter of its side around it.

    Landmarks have a white ring (visible on any skin) and each decoder its symbol. With
    ``colour_by="confidence"`` and the (K,) heatmap peaks in ``confidence`` they are
    coloured by :func:`lmkviz.inference.point_levels` (sure / unsure / guess: three legend
    entries name the thresholds, the decoders' entries show their symbols in grey);
    otherwise by decoder.
    """
    h, w = image.shape[:2]
    fig = image_figure(image, height=height)
    shapes, notes = [], []
    if len(faces) > 1:
        for number, other in enumerate(faces, start=1):
            chosen = face is not None and other.as_list() == face.as_list()
            if not chosen:
                shapes.append(_rect(other, FACE_COLOUR, "dot", 1.5))
            notes.append(dict(x=other.x0, y=other.y0, text=f" {number} ", showarrow=False, xanchor="left",
                              yanchor="bottom", font=dict(size=13 if chosen else 11, color="white"),
                              bgcolor=CROP_COLOUR if chosen else "rgba(0,0,0,0.6)"))
    if face is not None:
        shapes.append(_rect(face, FACE_COLOUR, "dash", 2.5))
    if crop is not None:
        shapes.append(_rect(crop, CROP_COLOUR, "solid", 3))
        # black under the photo over the crop: the part of the crop outside the photo reads black
        black = png_uri(np.zeros((1, 1, 3), np.uint8))
        fig.layout.images = [go.layout.Image(source=black, xref="x", yref="y", x=crop.x0, y=crop.y0,
                                             sizex=crop.x1 - crop.x0, sizey=crop.y1 - crop.y0, sizing="stretch",
                                             layer="below")] + list(fig.layout.images)
        x0, x1 = min(0.0, crop.x0), max(float(w), crop.x1)  # the photo and the crop
        y0, y1 = min(0.0, crop.y0), max(float(h), crop.y1)
        if zoom:  # the crop and a quarter of its side around it, within the above
            margin = 0.25 * max(crop.x1 - crop.x0, crop.y1 - crop.y0)
            x0, x1 = max(x0, crop.x0 - margin), min(x1, crop.x1 + margin)
            y0, y1 = max(y0, crop.y0 - margin), min(y1, crop.y1 + margin)
        pad = 0.02 * max(x1 - x0, y1 - y0)
        fig.update_xaxes(range=[x0 - pad, x1 + pad])
        fig.update_yaxes(range=[y1 + pad, y0 - pad])
    fig.update_layout(shapes=shapes, annotations=notes)
    legend = []  # shapes have no legend entries: explain them with empty traces
    if face is not None:
        legend.append(("face in use" if len(faces) > 1 else "detected face", "#888", "dash"))
    if len(faces) > 1:
        legend.append(("other faces", "#888", "dot"))
    if crop is not None:
        legend.append(("crop (network input)", CROP_COLOUR, "solid"))
    for label, colour, dash in legend:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=label,
                                 line=dict(color=colour, dash=dash, width=2)))
    size = point_size or (12 if not indices or len(indices) <= 30 else 10)
    by_confidence = colour_by == "confidence" and confidence is not None and bool(points)
    if by_confidence:
        for level, text in confidence_legend().items():
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=text, meta="confidence level",
                                     marker=dict(color=CONFIDENCE_COLOURS[level], symbol="circle", size=size,
                                                 line=dict(color=POINT_OUTLINE, width=1))))
    for name, pts in (points or {}).items():
        if by_confidence:
            _confidence_points(fig, name, pts, confidence, indices, names, size)
        else:
            add_points(fig, pts, name=DECODER_LABELS.get(name, name), colour=DECODER_COLOURS.get(name, "#333"),
                       symbol=DECODER_SYMBOLS.get(name, "circle"), size=size, outline=POINT_OUTLINE,
                       outline_width=1, labels=list(names) if names is not None else None,
                       index=list(indices) if indices is not None else None)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.01, xanchor="left", x=0),
                      margin=dict(l=0, r=0, t=0, b=30))
    return fig


def _confidence_points(fig: go.Figure, decoder: str, points: np.ndarray, confidence: np.ndarray,
                       indices: Optional[Sequence[int]], names: Optional[Sequence[str]], size: int) -> None:
    """One decoder's (K, 2) points coloured by the level of their (K,) heatmap peaks, in the
    decoder's symbol with a white ring; its legend entry is a grey marker of that symbol."""
    from lmkviz.inference import POINT_LEVELS, point_levels

    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    peaks = np.asarray(confidence, dtype=float).reshape(-1)
    keep = np.isfinite(pts).all(axis=1)
    levels = point_levels(peaks)
    ids = np.arange(len(pts)) if indices is None else np.asarray(indices)
    label = DECODER_LABELS.get(decoder, decoder)
    symbol = DECODER_SYMBOLS.get(decoder, "circle")
    scale = _level_scale()
    hover = [f"{ids[r]}: {names[r] if names is not None else ''}<br>peak {peaks[r]:.2f} ({POINT_LEVELS[levels[r]]})"
             for r in np.nonzero(keep)[0]]
    fig.add_trace(go.Scatter(
        x=pts[keep, 0], y=pts[keep, 1], mode="markers", name=label, legendgroup=decoder, showlegend=False,
        marker=dict(color=levels[keep], cmin=-0.5, cmax=2.5, colorscale=scale, showscale=False, symbol=symbol,
                    size=size, line=dict(color=POINT_OUTLINE, width=1)),
        customdata=hover, hovertemplate="%{customdata}<br>x=%{x:.2f}, y=%{y:.2f}<extra>" + label + "</extra>"))
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=label, legendgroup=decoder,
                             marker=dict(color="#777", symbol=symbol, size=size, line=dict(color=POINT_OUTLINE,
                                                                                           width=1))))


def overlay_png(image: np.ndarray, points: Mapping[str, np.ndarray], crop=None, face=None,
                radius: Optional[float] = None) -> bytes:
    """The photo with each decoder's landmarks drawn on it (and the boxes), as PNG bytes.

    Drawn with Pillow at the photo's resolution: one filled dot per landmark in the
    decoder's colour with a white ring (visible on any skin), centred on the continuous
    point (x, y).
    """
    im = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(im)
    h, w = image.shape[:2]
    r = radius if radius is not None else max(2.0, min(h, w) / 140)
    line = max(1, round(r / 2.5))
    if face is not None:
        draw.rectangle([face.x0, face.y0, face.x1, face.y1], outline=(255, 255, 255), width=line)
    if crop is not None:
        draw.rectangle([crop.x0, crop.y0, crop.x1, crop.y1], outline=_rgb(CROP_COLOUR), width=line + 1)
    for name, pts in points.items():
        colour = _rgb(DECODER_COLOURS.get(name, "#FF0000"))
        for x, y in np.asarray(pts, dtype=float):
            if np.isfinite(x) and np.isfinite(y):
                draw.ellipse([x - r, y - r, x + r, y + r], fill=colour, outline=(255, 255, 255), width=max(1, line // 2))
    buffer = io.BytesIO()
    im.save(buffer, format="PNG")
    return buffer.getvalue()


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    value = hex_colour.lstrip("#")
    return tuple(int(value[i:i + 2], 16) for i in (0, 2, 4))
