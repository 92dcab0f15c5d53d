"""Images, points and heatmaps as plotly figures.

Coordinates: the image is placed so that pixel ``(i, j)`` covers
``x in [j, j + 1)``, ``y in [i, i + 1)`` (y grows downwards), which is the lmkviz
convention; landmarks are plotted at their continuous coordinates.
"""

from __future__ import annotations

import base64
import io
from functools import lru_cache
from typing import Optional, Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from lmkviz.viz.style import HEATMAP_COLOURSCALE, OVERLAY_COLOURSCALE, TARGET_COLOUR


@lru_cache(maxsize=64)
def _encode(data: bytes, shape: tuple, fmt: str) -> str:
    image = Image.fromarray(np.frombuffer(data, dtype=np.uint8).reshape(shape))
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.save(buffer, format="JPEG", quality=92)
    else:
        image.save(buffer, format="PNG", compress_level=1)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def png_uri(image: np.ndarray) -> str:
    """(H, W, 3) or (H, W, 4) uint8 -> a lossless ``data:image/png;base64,...`` URI (for heatmaps,
    whose cells must stay crisp). Recently encoded images are remembered."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    return _encode(image.tobytes(), image.shape, "PNG")


def photo_uri(image: np.ndarray) -> str:
    """(H, W, 3) uint8 photo -> a ``data:image/jpeg;base64,...`` URI: a fraction of the PNG's
    size for photos and noisy faces, so pages load and update faster."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if image.ndim != 3 or image.shape[2] != 3:
        return png_uri(image)
    return _encode(image.tobytes(), image.shape, "JPEG")


@lru_cache(maxsize=4)
def _lut(colourscale: str) -> np.ndarray:
    import plotly.colors as pc

    colours = pc.sample_colorscale(colourscale, np.linspace(0, 1, 256).tolist())
    return np.array([[int(v) for v in c[4:-1].split(",")] for c in colours], dtype=np.uint8)


def colourise(values: np.ndarray, zmax: float = 1.0, colourscale: str = HEATMAP_COLOURSCALE) -> np.ndarray:
    """(..., H, W) values in [0, zmax] -> (..., H, W, 3) uint8 RGB through a plotly colour scale."""
    scaled = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float32)) / max(float(zmax), 1e-12), 0, 1)
    return _lut(colourscale)[np.round(scaled * 255).astype(np.uint8)]


def fit_image(image: np.ndarray, width: int, height: int, fill: int = 255) -> tuple[np.ndarray, float, float, float]:
    """Resize an (H, W, 3) image to fit ``width`` x ``height`` keeping its aspect ratio, centred
    on a ``fill`` background. Returns (canvas, scale, x offset, y offset): a point p of the
    image lands at ``p * scale + (x offset, y offset)`` on the canvas."""
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized = np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.BILINEAR))
    canvas = np.full((height, width, 3), fill, dtype=np.uint8)
    ox, oy = (width - new_w) // 2, (height - new_h) // 2
    canvas[oy:oy + new_h, ox:ox + new_w] = resized
    return canvas, new_w / w, ox, oy  # x and y scales agree to within rounding


def image_figure(image: np.ndarray, height: int = 420, title: Optional[str] = None,
                 margin: int = 0, lossless: bool = False) -> go.Figure:
    """An (H, W, 3) uint8 RGB image as a figure with pixel axes (y down, 1:1 aspect).

    The image is embedded as a layout image covering [0, W) x [0, H), so points
    added later land on the exact pixel geometry: JPEG for photos, PNG with
    ``lossless`` (heatmap pictures).
    """
    h, w = image.shape[:2]
    fig = go.Figure()
    source = png_uri(image) if lossless else photo_uri(image)
    fig.add_layout_image(dict(source=source, xref="x", yref="y", x=0, y=0, sizex=w, sizey=h,
                              sizing="stretch", layer="below"))
    # an invisible trace so the axes exist even without points
    fig.add_trace(go.Scatter(x=[0, w], y=[0, h], mode="markers", marker=dict(opacity=0), hoverinfo="skip",
                             showlegend=False))
    fig.update_xaxes(range=[0, w], visible=False, constrain="domain")
    fig.update_yaxes(range=[h, 0], visible=False, scaleanchor="x", scaleratio=1, constrain="domain")
    fig.update_layout(height=height, margin=dict(l=margin, r=margin, t=30 if title else margin, b=margin),
                      title=title, plot_bgcolor="rgba(0,0,0,0)", paper_bgcolor="rgba(0,0,0,0)",
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0),
                      dragmode="pan")
    return fig


def add_points(fig: go.Figure, points: np.ndarray, *, name: str = "target", colour: str = TARGET_COLOUR,
               symbol: str = "circle", size: int = 7, labels: Optional[Sequence[str]] = None,
               numbers: bool = False, show_legend: bool = True, index: Optional[Sequence[int]] = None,
               text_colour: str = "white", outline: str = "black", outline_width: float = 1.0) -> go.Figure:
    """Add (K, 2) points (NaN rows are skipped) with hover text; returns the figure.

    labels: K names for the hover; index: the landmark number of each row (default
    0..K-1), shown in the hover and, with ``numbers``, next to each point. outline,
    outline_width: the markers' ring (white reads on any photo).
    """
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    keep = np.isfinite(pts).all(axis=1)
    rows = np.nonzero(keep)[0]
    ids = np.arange(len(pts)) if index is None else np.asarray(index)
    text = [f"{ids[r]}: {labels[r]}" if labels is not None else str(ids[r]) for r in rows]
    fig.add_trace(go.Scatter(
        x=pts[keep, 0], y=pts[keep, 1], mode="markers+text" if numbers else "markers", name=name,
        text=[str(ids[r]) for r in rows] if numbers else None, textposition="top center",
        textfont=dict(size=10, color=text_colour, shadow="0px 0px 2px black"),
        marker=dict(color=colour, symbol=symbol, size=size, line=dict(color=outline, width=outline_width)),
        customdata=text, hovertemplate="%{customdata}<br>x=%{x:.2f}, y=%{y:.2f}<extra>" + name + "</extra>",
        showlegend=show_legend,
    ))
    return fig


def heatmap_overlay(image: np.ndarray, heatmap: np.ndarray, opacity: float = 0.5, height: int = 420,
                    title: Optional[str] = None, zmax: Optional[float] = None,
                    placement: Optional[Sequence[float]] = None) -> go.Figure:
    """One (h, w) heatmap drawn over an (H, W, 3) image, stretched to the image extent.

    Heatmap cell (i, j) covers image x in [j * W / w, (j + 1) * W / w): the pure-scale
    mapping of the lmkviz convention. Low values are transparent, so the face stays
    visible; ``opacity`` scales the whole layer. placement: (x of cell 0's centre, cell
    width, y of cell 0's centre, cell height) in image px for another mapping (UDP's
    corner-aligned one, :func:`lmkviz.labs.map_placement`).
    """
    h_img, w_img = image.shape[:2]
    fig = image_figure(image, height=height, title=title)
    hh, ww = heatmap.shape
    top = zmax if zmax is not None else max(float(np.nanmax(heatmap)), 1e-6)
    x0, dx, y0, dy = placement if placement is not None else (0.5 * w_img / ww, w_img / ww, 0.5 * h_img / hh,
                                                              h_img / hh)
    fig.add_trace(go.Heatmap(
        z=np.asarray(heatmap, dtype=np.float32), x0=x0, dx=dx, y0=y0,
        dy=dy, colorscale=OVERLAY_COLOURSCALE, opacity=opacity, zmin=0, zmax=top, showscale=False,
        name="heatmap", hovertemplate="value %{z:.3f}<extra>heatmap</extra>",
    ))
    return fig


def mosaic(panels: np.ndarray, columns: int, gap: int = 2, fill: int = 255) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """(K, h, w, 3) uint8 panels -> one (rows*(h+gap)-gap, cols*(w+gap)-gap, 3) image and the
    top-left (x, y) of every panel."""
    k, h, w = panels.shape[:3]
    columns = max(1, min(columns, k))
    rows = (k + columns - 1) // columns
    out = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap, 3), fill, dtype=np.uint8)
    corners = []
    for i in range(k):
        r, c = divmod(i, columns)
        y, x = r * (h + gap), c * (w + gap)
        out[y:y + h, x:x + w] = panels[i]
        corners.append((x, y))
    return out, corners


def _pool_max(maps: np.ndarray, factor: int) -> np.ndarray:
    """(K, H, W) -> (K, ceil(H/f), ceil(W/f)) block maxima (keeps every peak visible)."""
    if factor <= 1:
        return maps
    k, h, w = maps.shape
    ph, pw = -h % factor, -w % factor
    padded = np.pad(maps, ((0, 0), (0, ph), (0, pw)))
    return padded.reshape(k, (h + ph) // factor, factor, (w + pw) // factor, factor).max(axis=(2, 4))


def _grid_mosaic(heatmaps: np.ndarray, columns: int, zmax: Optional[float], max_cells: int, panel_px: int,
                 rounding=np.ceil) -> tuple[np.ndarray, list[tuple[int, int]], int, tuple[int, int]]:
    """The panels of :func:`heatmap_grid` and :func:`heatmap_grid_image`: (mosaic, top-left (x, y) of
    every panel, max-pooling factor, (h, w) of the maps as drawn). Each cell is a crisp square block
    of about ``panel_px / max(h, w)`` pixels (``rounding`` that ratio, at least 1)."""
    maps = np.asarray(heatmaps, dtype=np.float32)
    if maps.ndim != 3:
        raise ValueError(f"heatmap grid: expected (K, h, w) heatmaps, got shape {maps.shape}; pass one map per channel.")
    k, h, w = maps.shape
    factor = int(np.ceil(max(h, w) / max_cells))
    maps = _pool_max(maps, factor)
    top = float(zmax) if zmax is not None else max(float(np.nanmax(maps)), 1e-6)
    ph, pw = maps.shape[1:]
    up = max(1, int(rounding(panel_px / max(ph, pw))))
    panels = colourise(maps.repeat(up, axis=1).repeat(up, axis=2), top)
    image, corners = mosaic(panels, max(1, min(columns, k)), gap=max(2, up // 2))
    return image, corners, factor, (ph, pw)


def pooled_note(shape: Sequence[int], max_cells: int = 64) -> Optional[str]:
    """What a heatmap grid of (h, w) maps says when it shows them max-pooled (None when it does not)."""
    h, w = int(shape[-2]), int(shape[-1])
    factor = int(np.ceil(max(h, w) / max_cells))
    if factor <= 1:
        return None
    ph, pw = -(-h // factor), -(-w // factor)
    return f"maps shown max-pooled {factor}×{factor} ({h}×{w} → {ph}×{pw})"


@lru_cache(maxsize=4)
def _label_font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def heatmap_grid_image(heatmaps: np.ndarray, titles: Optional[Sequence[str]] = None, columns: int = 8,
                       panel_px: int = 96, zmax: Optional[float] = 1.0, max_cells: int = 64) -> np.ndarray:
    """A grid of (K, h, w) heatmaps as ONE RGB picture: (rows * (p + gap) - gap, columns * (p + gap) - gap, 3)
    uint8, panels of p ≈ ``panel_px`` px in reading order (channel i in row i // columns, column
    i % columns), white gaps, each panel's title (unless empty) in white on a dark box in its top-left corner.

    The colour scale is the one of :func:`heatmap_grid` and :func:`colourise` (value 0 → the
    first colour, ``zmax`` → the last; None: the largest value), shared by all panels. Cell (i, j)
    of a map is the block of rows [i * s, (i + 1) * s) and columns [j * s, (j + 1) * s) of its
    panel (s = p / max(h, w), a whole number of px), so a peak lands where it is on the map.
    Maps larger than ``max_cells`` are max-pooled first (no peak disappears; :func:`pooled_note`
    says so). A picture sends and draws far faster than a figure with one trace per map.
    """
    image, corners, _, _ = _grid_mosaic(heatmaps, columns, zmax, max_cells, panel_px, rounding=np.round)
    titles = list(titles) if titles is not None else [str(i) for i in range(len(corners))]
    if not titles:
        return image
    from PIL import ImageDraw

    picture = Image.fromarray(image)
    draw = ImageDraw.Draw(picture)
    font = _label_font(11)
    for (x, y), text in zip(corners, titles):
        if not str(text):
            continue
        left, top_, right, bottom = draw.textbbox((x + 3, y + 2), str(text), font=font)
        box = np.asarray(picture.crop((x, y, right + 2, bottom + 2)), dtype=np.float32)  # darken behind the text
        picture.paste(Image.fromarray((box * 0.45).astype(np.uint8)), (x, y))
        draw.text((x + 3, y + 2), str(text), fill=(255, 255, 255), font=font)
    return np.asarray(picture)


def heatmap_grid(heatmaps: np.ndarray, titles: Optional[Sequence[str]] = None, columns: int = 8,
                 cell_px: int = 110, zmax: Optional[float] = 1.0, max_cells: int = 64) -> go.Figure:
    """A grid of (K, h, w) heatmaps, one panel per channel, shared colour scale.

    Drawn as one picture (fast for any K): maps larger than ``max_cells`` are
    max-pooled for display so that no peak disappears; each cell is a crisp block.
    ``titles`` label the panels (default the channel numbers). Without hover or zoom,
    :func:`heatmap_grid_image` gives the same picture without a figure.
    """
    k, h, w = np.shape(heatmaps)
    image, corners, factor, (ph, pw) = _grid_mosaic(heatmaps, columns, zmax, max_cells, 96)
    columns = max(1, min(columns, k))
    fig = image_figure(image, height=100, lossless=True)
    titles = list(titles) if titles is not None else [str(i) for i in range(k)]
    fig.update_layout(annotations=[  # one list: adding annotations one by one is slow
        dict(x=x + 2, y=y + 2, text=text, showarrow=False, xanchor="left", yanchor="top",
             font=dict(size=11, color="white"), bgcolor="rgba(0,0,0,0.45)", borderpad=1)
        for (x, y), text in zip(corners, titles)])
    rows = (k + columns - 1) // columns
    fig.update_layout(height=rows * cell_px, margin=dict(l=0, r=0, t=18 if factor > 1 else 0, b=0),
                      dragmode=False)
    if factor > 1:
        fig.add_annotation(x=0, y=1.0, xref="paper", yref="paper", yanchor="bottom", showarrow=False,
                           text=pooled_note((h, w), max_cells), font=dict(size=10))
    return fig
