"""Figures of the Encoding lab: cells at the pixel level, decoder estimates, error curves.

Heatmap coordinates follow the lmkviz convention: cell ``(i, j)`` covers
``x in [j, j + 1)``, ``y in [i, i + 1)``, so cell boundaries are the integers and a
perfect argmax sits on a half-integer. Image coordinates are heatmap coordinates
times the stride.
"""

from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lmkviz.viz.images import colourise, photo_uri, png_uri
from lmkviz.viz.style import (
    CONVENTION_COLOURS,
    CONVENTION_SYMBOLS,
    DECODER_COLOURS,
    DECODER_LABELS,
    DECODER_SYMBOLS,
    ENCODING_COLOURS,
    HEATMAP_COLOURSCALE,
    TARGET_COLOUR,
)
from lmkviz.names import LAB_ENCODING_LABELS as ENCODING_LABELS  # no torch

def _alpha(colour: str, alpha: float) -> str:
    """"#RRGGBB" -> "rgba(r,g,b,alpha)"."""
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _cell_axes(fig: go.Figure, x0: int, x1: int, y0: int, y1: int, row=None, col=None) -> None:
    """Integer ticks (cell boundaries), y down, 1:1 aspect."""
    step = max(1, math.ceil((x1 - x0) / 12))
    kw = dict(row=row, col=col) if row else {}
    fig.update_xaxes(range=[x0, x1], dtick=step, tick0=0, showgrid=False, zeroline=False, constrain="domain",
                     title_text="heatmap x (cells)", **kw)
    fig.update_yaxes(range=[y1, y0], dtick=step, tick0=0, showgrid=False, zeroline=False, scaleanchor="x",
                     scaleratio=1, constrain="domain", title_text="heatmap y (cells)", **kw)


def _window(centre: float, radius: int, size: int) -> tuple[int, int]:
    lo = int(math.floor(centre)) - radius
    lo = max(0, min(lo, size - (2 * radius + 1)))
    return lo, min(size, lo + 2 * radius + 1)


def zoom_figure(heatmap: np.ndarray, truth: Sequence[float], estimates: Mapping[str, Sequence[float]],
                stride: float, radius: int = 4, height: int = 560, zmax: Optional[float] = None) -> go.Figure:
    """The cells of one (h, w) heatmap around ``truth`` with every decoder's estimate.

    truth and estimates are (x, y) in heatmap px; ``stride`` converts to image px for
    the hover and the legend (errors in image px). Cells are separated by thin gaps,
    so their boundaries (the integers) are visible; values are written in the cells
    when the window is small enough.
    """
    h, w = heatmap.shape
    x0, x1 = _window(truth[0], radius, w)
    y0, y1 = _window(truth[1], radius, h)
    window = np.asarray(heatmap[y0:y1, x0:x1], dtype=np.float64)
    top = zmax if zmax is not None else max(float(np.nanmax(np.abs(window))), 1e-6)
    fig = go.Figure(go.Heatmap(
        z=window, x=np.arange(x0, x1) + 0.5, y=np.arange(y0, y1) + 0.5, colorscale=HEATMAP_COLOURSCALE,
        zmin=min(0.0, float(window.min())), zmax=top, xgap=1, ygap=1, showscale=True,
        colorbar=dict(thickness=12, len=0.9, title=dict(text="value", side="right")),
        text=[[f"{v:.2f}" if abs(v) >= 0.005 else "" for v in row] for row in window] if window.size <= 121 else None,
        texttemplate="%{text}" if window.size <= 121 else None, textfont=dict(size=10),
        hovertemplate="cell (%{x:.1f}, %{y:.1f})<br>value %{z:.4f}<extra></extra>", name="cells",
    ))
    tx, ty = truth
    fig.add_trace(go.Scatter(
        x=[tx], y=[ty], mode="markers", name="true point",
        marker=dict(color=TARGET_COLOUR, size=30, symbol="circle", line=dict(color="black", width=2)),
        hovertemplate=f"true point<br>heatmap ({tx:.3f}, {ty:.3f})<br>image ({tx * stride:.2f}, {ty * stride:.2f})"
                      "<extra></extra>",
    ))
    # decreasing sizes, so that estimates on the same spot stay visible
    for rank, (name, (ex, ey)) in enumerate(estimates.items()):
        err = math.hypot(ex - tx, ey - ty) * stride
        label = DECODER_LABELS.get(name, name)
        fig.add_trace(go.Scatter(
            x=[ex], y=[ey], mode="markers", name=f"{label}: {err:.2f} px",
            marker=dict(color=DECODER_COLOURS.get(name, "#333"), symbol=DECODER_SYMBOLS.get(name, "circle"),
                        size=max(9, 22 - 4 * rank), line=dict(color="white", width=1.5)),
            hovertemplate=f"{label}<br>heatmap ({ex:.3f}, {ey:.3f})<br>image ({ex * stride:.2f}, "
                          f"{ey * stride:.2f})<br>error {err:.2f} image px<extra></extra>",
        ))
    _cell_axes(fig, x0, x1, y0, y1)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="white",
                      legend=dict(orientation="h", x=0.5, xanchor="center", y=-0.14, yanchor="top"))
    return fig


def roundtrip_figure(errors: Mapping[str, float], interocular: Optional[float] = None,
                     height: int = 230) -> go.Figure:
    """Horizontal bars: mean round-trip error per decoder in image px (and % inter-ocular)."""
    names = list(errors)
    values = [errors[n] for n in names]
    text = [f"{v:.2f} px" + (f" · {100 * v / interocular:.2f} % IOD" if interocular else "") for v in values]
    fig = go.Figure(go.Bar(
        y=[DECODER_LABELS.get(n, n) for n in names], x=values, orientation="h", text=text,
        textposition="outside", cliponaxis=False, marker_color=[DECODER_COLOURS.get(n, "#333") for n in names],
        hovertemplate="%{y}: %{x:.3f} image px<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text="mean error (image px)", range=[0, max(values + [1e-3]) * 1.45], rangemode="tozero")
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), showlegend=False)
    return fig


def encodings_figure(errors: Mapping[str, Mapping[str, float]], current: str, height: int = 300) -> go.Figure:
    """Grouped bars: mean round-trip error (image px) of each decoder, one bar colour per encoding.

    errors: {encoding: {decoder: mean error}}; ``current`` is drawn fully opaque, the others faded.
    """
    fig = go.Figure()
    for encoding, by_decoder in errors.items():
        names = list(by_decoder)
        fig.add_trace(go.Bar(
            x=[DECODER_LABELS.get(n, n) for n in names], y=[by_decoder[n] for n in names],
            name=ENCODING_LABELS.get(encoding, encoding), marker_color=ENCODING_COLOURS.get(encoding, "#333"),
            opacity=1.0 if encoding == current else 0.45,
            hovertemplate=f"{ENCODING_LABELS.get(encoding, encoding)}<br>%{{x}}: %{{y:.2f}} px<extra></extra>"))
    fig.update_yaxes(title_text="mean error (image px)", rangemode="tozero")
    fig.update_layout(barmode="group", height=height, margin=dict(l=10, r=10, t=10, b=10),
                      legend=dict(orientation="h", yanchor="top", y=-0.15, x=0, font=dict(size=11)))
    return fig


def sweep_figure(sweep: Mapping[str, Sequence[float]], current: float, x_title: str, *, log_x: bool = False,
                 floor: Optional[Sequence[float]] = None, floor_label: str = "", height: int = 380,
                 title: Optional[str] = None) -> go.Figure:
    """Mean error (image px) per decoder against ``sweep["x"]``, the current setting marked.

    sweep: {"x": [...], decoder: [...], "sem": {decoder: [...]}} (:func:`lmkviz.labs.sweep_sigma`);
    each decoder's 95 % band (mean ± 1.96 standard errors) is shaded, so that a wiggle
    smaller than the band reads as sampling. floor: an optional reference curve (same x),
    drawn grey and dotted.
    """
    xs = list(sweep["x"])
    sem = sweep.get("sem", {})
    fig = go.Figure()
    if floor is not None:
        fig.add_trace(go.Scatter(x=xs, y=list(floor), mode="lines", name=floor_label,
                                 line=dict(color="#999", dash="dot"), hovertemplate="%{y:.2f} px<extra></extra>"))
    for name, ys in sweep.items():
        if name in ("x", "sem"):
            continue
        if name in sem:  # 95 % band of the mean: how much of a wiggle is sampling
            colour = DECODER_COLOURS.get(name, "#333")
            low = [max(y - 1.96 * e, 0.0) for y, e in zip(ys, sem[name])]
            high = [y + 1.96 * e for y, e in zip(ys, sem[name])]
            fig.add_trace(go.Scatter(x=xs + xs[::-1], y=high + low[::-1], fill="toself", mode="lines",
                                     line=dict(width=0), fillcolor=_alpha(colour, 0.18), hoverinfo="skip",
                                     showlegend=False, name=f"{name} 95 % band"))
        fig.add_trace(go.Scatter(
            x=xs, y=list(ys), mode="lines+markers", name=DECODER_LABELS.get(name, name),
            line=dict(color=DECODER_COLOURS.get(name, "#333"), width=2),
            marker=dict(symbol=DECODER_SYMBOLS.get(name, "circle"), size=8,
                        color=DECODER_COLOURS.get(name, "#333")),
            customdata=[1.96 * e for e in sem.get(name, [0.0] * len(xs))],
            hovertemplate=f"{DECODER_LABELS.get(name, name)}<br>{x_title}: %{{x}}<br>%{{y:.3f}} ± %{{customdata:.3f}} px"
                          "<extra></extra>",
        ))
    values = [v for name, ys in sweep.items() if name not in ("x", "sem") for v in ys] + list(floor or [])
    top = max([v for v in values if math.isfinite(v)] + [1e-3]) * 1.08
    fig.add_trace(go.Scatter(x=[current, current], y=[0, top], mode="lines+text", name="current setting",
                             line=dict(color="#444", dash="dash", width=1.5), text=["", "current"],
                             textposition="top right", textfont=dict(size=11, color="#444"), hoverinfo="skip",
                             showlegend=False))
    fig.update_xaxes(title_text=x_title, type="log" if log_x else "linear",
                     tickvals=xs if log_x else None, ticktext=[f"{x:g}" for x in xs] if log_x else None,
                     tickangle=0)
    fig.update_yaxes(title_text="mean error (image px)", range=[0, top * 1.06])
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10), title=title,
                      legend=dict(orientation="h", yanchor="top", y=-0.22, x=0, font=dict(size=11),
                                  entrywidth=0.5, entrywidthmode="fraction"))
    return fig


def quantisation_figure(point_hm: Sequence[float], rows, stride: tuple[float, float],
                        cells: Optional[Sequence[tuple[int, int, float]]] = None,
                        counts: Optional[Mapping[tuple[int, int], int]] = None,
                        mean: Optional[Sequence[float]] = None, height: int = 520) -> go.Figure:
    """The 4 x 4 heatmap cells around ``point_hm`` (heatmap px) with where each convention
    in ``rows`` (:class:`lmkviz.labs.Quantised`, image px) puts the point back.

    cells: optional randomized-rounding candidates ``(col, row, probability)``, written
    in the cells with the observed share of ``counts``; mean: the running mean of the
    draws (heatmap px).
    """
    px, py = point_hm
    x0, y0 = math.floor(px) - 1, math.floor(py) - 1
    fig = go.Figure()
    # shapes and annotations go in as two lists: adding them one by one is slow in plotly
    shapes = [dict(type="rect", x0=c, x1=c + 1, y0=r, y1=r + 1, line=dict(color="#bbb", width=1),
                   fillcolor="rgba(0,0,0,0)", layer="below")
              for c in range(x0, x0 + 4) for r in range(y0, y0 + 4)]  # cell boundaries
    notes = []
    total = sum(counts.values()) if counts else 0
    for c, r, p in cells or ():
        seen = f"<br>drawn {counts.get((c, r), 0) / total:.0%}" if total else ""
        shapes.append(dict(type="rect", x0=c, x1=c + 1, y0=r, y1=r + 1, line=dict(width=0),
                           fillcolor=f"rgba(127,127,127,{0.1 + 0.6 * p:.3f})", layer="below"))
        notes.append(dict(x=c + 0.5, y=r + 0.84, text=f"p = {p:.2f}{seen}", showarrow=False,
                          font=dict(size=11, color="#222")))
    fig.update_layout(shapes=shapes, annotations=notes)
    fig.add_trace(go.Scatter(x=[c + 0.5 for c in range(x0, x0 + 4) for _ in range(4)],
                             y=[r + 0.5 for _ in range(4) for r in range(y0, y0 + 4)], mode="markers",
                             marker=dict(size=4, color="#bbb"), name="cell centres", hoverinfo="skip"))
    fig.add_trace(go.Scatter(
        x=[px], y=[py], mode="markers", name="true point",
        marker=dict(color=TARGET_COLOUR, size=22, line=dict(color="black", width=2)),
        hovertemplate=f"true point<br>heatmap ({px:.4f}, {py:.4f})<extra></extra>"))
    for row in rows:
        hx, hy = row.decoded[0] / stride[0], row.decoded[1] / stride[1]
        colour = CONVENTION_COLOURS.get(row.label, "#333")
        fig.add_trace(go.Scatter(
            x=[px, hx], y=[py, hy], mode="lines+markers", name=f"{row.label}: {row.distance:.1f} px off",
            line=dict(color=colour, dash="dot", width=1.5),
            marker=dict(color=colour, size=[0, 14], symbol=CONVENTION_SYMBOLS.get(row.label, "circle"),
                        line=dict(color="white", width=1)),
            hovertemplate=f"{row.label}<br>image ({row.decoded[0]:.2f}, {row.decoded[1]:.2f})<br>"
                          f"off by ({row.error[0]:+.2f}, {row.error[1]:+.2f}) px<extra></extra>"))
    if mean is not None:
        fig.add_trace(go.Scatter(
            x=[mean[0]], y=[mean[1]], mode="markers", name="mean of the random draws",
            marker=dict(color=CONVENTION_COLOURS["lmkviz"], size=12, symbol="cross",
                        line=dict(color="white", width=1)),
            hovertemplate="mean of draws<br>heatmap (%{x:.4f}, %{y:.4f})<extra></extra>"))
    fig.update_xaxes(range=[x0, x0 + 4], dtick=1, showgrid=False, zeroline=False, constrain="domain",
                     title_text="heatmap x (cells)")
    fig.update_yaxes(range=[y0 + 4, y0], dtick=1, showgrid=False, zeroline=False, scaleanchor="x",
                     constrain="domain", title_text="heatmap y (cells)")
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="white",
                      legend=dict(orientation="h", x=0, y=-0.12, yanchor="top", font=dict(size=11)))
    return fig


def running_mean_figure(running_error: np.ndarray, spread: float, height: int = 420) -> go.Figure:
    """Distance (image px) between the running mean of n random draws and the true point,
    against n (log-log), with ``spread / sqrt(n)``: the typical distance for an unbiased
    estimate whose single draws scatter by ``spread`` (image px)."""
    keep = np.unique(np.geomspace(1, max(len(running_error), 1), num=400).astype(int)) - 1  # log-spaced samples
    keep = keep[keep < len(running_error)]
    n = keep + 1
    err = np.maximum(np.asarray(running_error, dtype=float)[keep], 1e-3)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=n, y=err, mode="lines", name="mean of the first n draws",
                             line=dict(color=CONVENTION_COLOURS["lmkviz"], width=2),
                             hovertemplate="n = %{x}<br>%{y:.3f} px off<extra></extra>"))
    fig.add_trace(go.Scatter(x=n, y=np.maximum(spread / np.sqrt(n), 1e-3), mode="lines",
                             name=f"expected: {spread:.1f} px / √n", line=dict(color="#999", dash="dot"),
                             hoverinfo="skip"))
    ticks = [v * 10 ** e for e in range(-3, 5) for v in (1, 2, 5)]
    fig.update_xaxes(type="log", title_text="number of random draws n", tickvals=ticks,
                     ticktext=[f"{t:g}" for t in ticks], minor=dict(showgrid=False))
    fig.update_yaxes(type="log", title_text="distance to the true point (image px)", tickvals=ticks,
                     ticktext=[f"{t:g}" for t in ticks])
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10),
                      legend=dict(orientation="h", yanchor="top", y=-0.2, x=0))
    return fig


def pipeline_figure(image: np.ndarray, heatmap: np.ndarray, truth: Sequence[float],
                    estimates: Mapping[str, Sequence[float]], landmark: str, height: int = 300) -> go.Figure:
    """Image -> one heatmap -> decoded point, three panels side by side.

    image: (S, S, 3) uint8; heatmap: (h, w); truth: (x, y) image px; estimates:
    {decoder: (x, y) image px}.
    """
    s_h, s_w = image.shape[:2]
    h, w = heatmap.shape
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.08, subplot_titles=(
        f"① input image, {s_w}×{s_h} px", f"② heatmap of the {landmark}, {w}×{h} cells",
        "③ decoded point, back in image px"))
    fig.update_annotations(font_size=13)
    for col in (1, 3):
        fig.add_layout_image(dict(source=photo_uri(image), xref=f"x{col}", yref=f"y{col}", x=0, y=0, sizex=s_w,
                                  sizey=s_h, sizing="stretch", layer="below"))
    fig.add_layout_image(dict(source=png_uri(colourise(heatmap.repeat(4, 0).repeat(4, 1), float(heatmap.max()) or 1)),
                              xref="x2", yref="y2", x=0, y=0, sizex=w, sizey=h, sizing="stretch", layer="below"))
    tx, ty = truth
    fig.add_trace(go.Scatter(x=[tx], y=[ty], mode="markers", name="true point", legendgroup="t",
                             marker=dict(color=TARGET_COLOUR, size=11, line=dict(color="black", width=1.5))),
                  row=1, col=1)
    fig.add_trace(go.Scatter(x=[tx * w / s_w], y=[ty * h / s_h], mode="markers", showlegend=False,
                             marker=dict(color=TARGET_COLOUR, size=11, line=dict(color="black", width=1.5)),
                             hovertemplate="true point<extra></extra>"), row=1, col=2)
    fig.add_trace(go.Scatter(x=[tx], y=[ty], mode="markers", showlegend=False, legendgroup="t",
                             marker=dict(color=TARGET_COLOUR, size=24, line=dict(color="black", width=1.5)),
                             hovertemplate="true point<extra></extra>"), row=1, col=3)
    for name, (ex, ey) in estimates.items():
        fig.add_trace(go.Scatter(
            x=[ex], y=[ey], mode="markers", name=DECODER_LABELS.get(name, name),
            marker=dict(color=DECODER_COLOURS.get(name, "#333"), symbol=DECODER_SYMBOLS.get(name, "circle"),
                        size=12, line=dict(color="white", width=1)),
            hovertemplate=f"{DECODER_LABELS.get(name, name)}: %{{x:.1f}}, %{{y:.1f}}<extra></extra>"), row=1, col=3)
    for col, (ww, hh) in enumerate([(s_w, s_h), (w, h), (s_w, s_h)], start=1):
        fig.update_xaxes(range=[0, ww], visible=False, constrain="domain", row=1, col=col)
        fig.update_yaxes(range=[hh, 0], visible=False, scaleanchor=f"x{col if col > 1 else ''}", scaleratio=1,
                         constrain="domain", row=1, col=col)
    # zoom the last panel on the point so that the decoder differences show
    span = s_w / 14
    fig.update_xaxes(range=[tx - span, tx + span], row=1, col=3)
    fig.update_yaxes(range=[ty + span, ty - span], row=1, col=3)
    for x in (0.305, 0.695):
        fig.add_annotation(x=x, y=0.5, xref="paper", yref="paper", text="➜", showarrow=False,
                           font=dict(size=28, color="#888"))
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=30, b=0),
                      legend=dict(orientation="h", yanchor="top", y=-0.02, x=0.5, xanchor="center"),
                      plot_bgcolor="rgba(0,0,0,0)", dragmode=False)
    return fig


# --------------------------------------------------------------------------- SimCC


def simcc_figure(image: np.ndarray, x_label: np.ndarray, y_label: np.ndarray, point: Sequence[float],
                 bin_px: float, height: int = 460, name: str = "landmark") -> go.Figure:
    """SimCC's targets of one point beside the image: its x label vector under the image, its y
    label vector to the right, both on the image's pixel axes (bin b spans [b, b + 1) x
    ``bin_px`` px). point: (x, y) image px."""
    h, w = image.shape[:2]
    fig = make_subplots(rows=2, cols=2, column_widths=[0.8, 0.2], row_heights=[0.8, 0.2], horizontal_spacing=0.02,
                        vertical_spacing=0.03, shared_xaxes="columns", shared_yaxes="rows")
    fig.add_layout_image(dict(source=photo_uri(image), xref="x", yref="y", x=0, y=0, sizex=w, sizey=h,
                              sizing="stretch", layer="below"))
    px, py = point
    fig.add_trace(go.Scatter(x=[px], y=[py], mode="markers", name=name, showlegend=False,
                             marker=dict(color=TARGET_COLOUR, size=11, line=dict(color="black", width=1.5)),
                             hovertemplate=f"{name}<br>(%{{x:.2f}}, %{{y:.2f}}) px<extra></extra>"), row=1, col=1)
    colour = ENCODING_COLOURS["simcc"]
    centres_x = (np.arange(len(x_label)) + 0.5) * bin_px
    centres_y = (np.arange(len(y_label)) + 0.5) * bin_px
    fig.add_trace(go.Scatter(x=centres_x, y=x_label, mode="lines", fill="tozeroy", line=dict(color=colour, width=1.5),
                             showlegend=False, hovertemplate="x bin at %{x:.2f} px: %{y:.3f}<extra>x label</extra>"),
                  row=2, col=1)
    fig.add_trace(go.Scatter(x=y_label, y=centres_y, mode="lines", fill="tozerox", line=dict(color=colour, width=1.5),
                             showlegend=False, hovertemplate="y bin at %{y:.2f} px: %{x:.3f}<extra>y label</extra>"),
                  row=1, col=2)
    for line in (dict(x0=px, x1=px, y0=0, y1=1, row=2, col=1), dict(x0=0, x1=1, y0=py, y1=py, row=1, col=2)):
        fig.add_shape(type="line", line=dict(color="#444", dash="dot", width=1), **line)
    fig.update_xaxes(range=[0, w], visible=False, row=1, col=1)
    fig.update_yaxes(range=[h, 0], visible=False, scaleanchor="x", scaleratio=1, constrain="domain", row=1, col=1)
    fig.update_xaxes(range=[0, w], title_text="x label (image px)", row=2, col=1)
    fig.update_yaxes(range=[0, 1.05], tickvals=[0, 1], row=2, col=1)
    fig.update_xaxes(range=[0, 1.05], tickvals=[0, 1], title_text="y label", row=1, col=2)
    fig.update_yaxes(range=[h, 0], row=1, col=2)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="white", dragmode="pan")
    return fig


def simcc_matrix_figure(x_labels: np.ndarray, y_labels: np.ndarray, titles: Sequence[str],
                        height: int = 420) -> go.Figure:
    """Every selected landmark's two SimCC label vectors as two images, one row per landmark:
    (k, W_x) x labels and (k, H_y) y labels (shared 0 to 1 colour scale)."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08, subplot_titles=("x labels", "y labels"))
    for col, labels in enumerate((x_labels, y_labels), start=1):
        fig.add_trace(go.Heatmap(z=np.asarray(labels, dtype=np.float32), y=list(titles), colorscale=HEATMAP_COLOURSCALE,
                                 zmin=0, zmax=1, showscale=col == 2,
                                 hovertemplate="landmark %{y}, bin %{x}: %{z:.3f}<extra></extra>"), row=1, col=col)
        fig.update_xaxes(title_text="bin", row=1, col=col)
        fig.update_yaxes(type="category", autorange="reversed", tickfont=dict(size=9), row=1, col=col)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10))
    return fig


def simcc_zoom_figure(x_vector: np.ndarray, y_vector: np.ndarray, truth: Sequence[float],
                      estimates: Mapping[str, Sequence[float]], bin_px: float, radius: int = 12,
                      height: int = 460) -> go.Figure:
    """SimCC's two vectors of one point around the truth (``radius`` bins each side), one
    panel per axis: the bins as bars, the truth and each decoder's estimate as vertical lines.
    truth and estimates: (x, y) in bins; ``bin_px`` converts to image px for the legend."""
    fig = make_subplots(rows=2, cols=1, vertical_spacing=0.16, subplot_titles=("x vector", "y vector"))
    tx, ty = truth
    for row, (vector, centre) in enumerate(((x_vector, tx), (y_vector, ty)), start=1):
        lo = max(0, int(math.floor(centre)) - radius)
        hi = min(len(vector), int(math.floor(centre)) + radius + 1)
        bins = np.arange(lo, hi)
        fig.add_trace(go.Bar(x=bins + 0.5, y=np.asarray(vector)[lo:hi], width=0.9, marker_color="#BBBBBB",
                             showlegend=False, hovertemplate="bin %{x:.1f}: %{y:.3f}<extra></extra>"), row=row, col=1)
        top = max(float(np.max(np.asarray(vector)[lo:hi])) if hi > lo else 1.0, 1e-3) * 1.1
        fig.add_trace(go.Scatter(x=[centre, centre], y=[0, top], mode="lines", name="true point",
                                 line=dict(color="#222", width=3), showlegend=row == 1,
                                 hovertemplate=f"true point: bin {centre:.3f}<extra></extra>"), row=row, col=1)
        for name, point in estimates.items():
            value = point[row - 1]
            err = math.hypot(point[0] - tx, point[1] - ty) * bin_px
            label = DECODER_LABELS.get(name, name)
            fig.add_trace(go.Scatter(x=[value, value], y=[0, top], mode="lines", name=f"{label}: {err:.2f} px",
                                     line=dict(color=DECODER_COLOURS.get(name, "#333"), width=2, dash="dash"),
                                     showlegend=row == 1, legendgroup=name,
                                     hovertemplate=f"{label}: bin {value:.3f}<extra></extra>"), row=row, col=1)
        fig.update_xaxes(range=[lo, hi], title_text="bin" if row == 2 else None, row=row, col=1)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), plot_bgcolor="white", bargap=0.05,
                      legend=dict(orientation="h", x=0.5, xanchor="center", y=-0.14, yanchor="top"))
    return fig
