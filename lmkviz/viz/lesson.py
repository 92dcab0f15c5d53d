"""Figures of the Lesson page (the other steps reuse the Encoding lab's and the Compare page's).

Points are in the pixels of the image they are drawn on; NME in % of the inter-ocular
distance. Every function returns a plotly figure and takes ``height`` (the presenter
mode draws larger).
"""

from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lmkviz.viz.images import add_points, image_figure
from lmkviz.viz.style import APPROACH_COLOURS, APPROACH_LABELS, DECODER_COLOURS, DECODER_LABELS, TARGET_COLOUR

SHORT_DECODER_LABELS = {"argmax": "argmax", "quarter": "quarter", "topk": "top-k", "dark": "DARK",
                        "softargmax": "soft-argmax"}
FLIP_COLOURS = {"plain": "#E69F00", "mirrored": "#56B4E9", "averaged": "#CC79A7"}
FLIP_LABELS = {"plain": "the image", "mirrored": "its mirror, mapped back", "averaged": "average of the two"}


def _legend_below(fig: go.Figure, y: float = -0.18) -> None:
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=y, x=0, font=dict(size=12)))


def regression_curves_figure(epochs: Sequence[int], nme: Mapping[str, Sequence[float]],
                             height: int = 360) -> go.Figure:
    """Validation NME (%) per epoch of direct regression and heatmaps ({kind: values})."""
    fig = go.Figure()
    for kind, values in nme.items():
        label = APPROACH_LABELS.get(kind, kind)
        fig.add_trace(go.Scatter(
            x=list(epochs), y=list(values), mode="lines+markers", name=label,
            line=dict(color=APPROACH_COLOURS.get(kind, "#333"), width=3), marker=dict(size=8),
            hovertemplate=f"{label}<br>epoch %{{x}}: NME %{{y:.2f}} %<extra></extra>"))
        fig.add_annotation(x=epochs[-1], y=values[-1], text=f"{values[-1]:.1f} %", showarrow=False, xanchor="left",
                           xshift=8, font=dict(size=14, color=APPROACH_COLOURS.get(kind, "#333")))
    top = max(max(v) for v in nme.values())
    fig.update_xaxes(title_text="epoch", dtick=1, range=[0.5, len(epochs) + 1.2], showgrid=True, gridcolor="#eee")
    fig.update_yaxes(title_text="validation NME (% inter-ocular)", range=[0, min(top, 4 * max(
        min(v) for v in nme.values())) * 1.1], showgrid=True, gridcolor="#eee")
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="white")
    _legend_below(fig, -0.2)
    return fig


def regression_face_figure(image: np.ndarray, target: np.ndarray, points: Mapping[str, np.ndarray],
                           height: int = 420) -> go.Figure:
    """One face with the true points and each approach's points ({kind: (K, 2)}), a thin
    segment from every true point to each prediction so that the misses show."""
    fig = image_figure(image, height=height)
    for kind, pts in points.items():
        xs, ys = [], []
        for (tx, ty), (px, py) in zip(np.asarray(target, float), np.asarray(pts, float)):
            if np.isfinite([tx, ty, px, py]).all():
                xs += [tx, px, None]
                ys += [ty, py, None]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", hoverinfo="skip", showlegend=False,
                                 line=dict(color=APPROACH_COLOURS.get(kind, "#333"), width=1.5)))
    add_points(fig, target, name="true points", colour=TARGET_COLOUR, size=6)
    for kind, pts in points.items():
        add_points(fig, pts, name=APPROACH_LABELS.get(kind, kind), colour=APPROACH_COLOURS.get(kind, "#333"),
                   symbol="diamond" if kind == "regression" else "circle", size=7)
    _legend_below(fig, -0.01)
    fig.update_layout(margin=dict(l=0, r=0, t=0, b=40))
    return fig


def sigma_tradeoff_figure(tradeoff: Mapping[str, Sequence[float]], current: float, height: int = 360) -> go.Figure:
    """Two panels against sigma (log x): what an all-zero output costs (the training signal)
    and the error of argmax and DARK on a noisy blob (the precision); ``current`` marked."""
    xs = list(tradeoff["x"])
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.14, subplot_titles=(
        "easy to learn: loss of painting nothing", "precise: error on a noisy blob"))
    fig.add_trace(go.Scatter(x=xs, y=[v * 1000 for v in tradeoff["empty_loss"]], mode="lines+markers",
                             name="MSE of an all-zero map", line=dict(color="#009E73", width=3),
                             hovertemplate="σ %{x}<br>MSE of zeros %{y:.3f} × 10⁻³<extra></extra>"), row=1, col=1)
    for name in ("argmax", "dark"):
        fig.add_trace(go.Scatter(
            x=xs, y=list(tradeoff[name]), mode="lines+markers", name=f"{DECODER_LABELS.get(name, name)} error",
            line=dict(color=DECODER_COLOURS.get(name, "#333"), width=3),
            hovertemplate=f"{DECODER_LABELS.get(name, name)}<br>σ %{{x}}<br>%{{y:.2f}} px<extra></extra>"),
            row=1, col=2)
    for col in (1, 2):
        fig.add_vline(x=current, line=dict(color="#444", dash="dash", width=1.5), row=1, col=col)
        fig.update_xaxes(type="log", tickvals=xs, ticktext=[f"{x:g}" for x in xs], title_text="σ (heatmap cells)",
                         row=1, col=col, showgrid=True, gridcolor="#eee")
    fig.update_yaxes(title_text="× 10⁻³", rangemode="tozero", row=1, col=1, showgrid=True, gridcolor="#eee")
    fig.update_yaxes(title_text="mean error (input px)", rangemode="tozero", row=1, col=2, showgrid=True,
                     gridcolor="#eee")
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), plot_bgcolor="white")
    _legend_below(fig, -0.25)
    return fig


def strides_figure(layers: Mapping[str, Sequence], height: int = 460,
                   connect: Optional[Sequence[str]] = None) -> go.Figure:
    """One row per network: every convolution of a forward pass (x: how far through the
    network, 0 to 1) at the resolution it works at (y: 1/stride, finest on top).

    layers: {label: [:class:`lmkviz.lesson.LayerResolution`, ...]}. connect: the labels
    whose dots are joined in order (a network that runs one resolution at a time; joining
    a multi-branch network's dots only draws noise); None joins all.
    """
    names = list(layers)
    fig = make_subplots(rows=len(names), cols=1, shared_xaxes=True, vertical_spacing=0.12, subplot_titles=names)
    colours = ["#D55E00", "#0072B2", "#009E73", "#CC79A7"]
    all_strides = sorted({layer.stride for seq in layers.values() for layer in seq})
    for row, name in enumerate(names, start=1):
        seq = list(layers[name])
        n = max(len(seq) - 1, 1)
        xs = [layer.order / n for layer in seq]
        ys = [math.log2(layer.stride) for layer in seq]
        colour = colours[(row - 1) % len(colours)]
        if connect is None or name in connect:
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=colour, width=1.5), opacity=0.5,
                                     hoverinfo="skip", showlegend=False), row=row, col=1)
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="markers", name=name, showlegend=False,
            marker=dict(color=colour, size=8, line=dict(color="white", width=0.5)),
            customdata=[[layer.name, layer.channels, layer.stride] for layer in seq],
            hovertemplate="%{customdata[0]}<br>1/%{customdata[2]:g} resolution, %{customdata[1]} channels"
                          "<extra></extra>"), row=row, col=1)
        fig.update_yaxes(tickvals=[math.log2(s) for s in all_strides], ticktext=[f"1/{s:g}" for s in all_strides],
                         autorange="reversed", title_text="resolution", row=row, col=1, showgrid=True,
                         gridcolor="#eee")
    fig.update_xaxes(title_text="how far through the network (first convolution → last)", row=len(names), col=1)
    fig.update_xaxes(range=[-0.02, 1.02], showgrid=False)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), plot_bgcolor="white")
    return fig


def flip_figure(image: np.ndarray, target: np.ndarray, points: Mapping[str, np.ndarray],
                focus: Optional[Sequence[int]] = None, height: int = 440) -> go.Figure:
    """One face with the true points and the points of the image, of its mirror mapped back
    and of their average ({"plain", "mirrored", "averaged"}: (K, 2)). ``focus``: landmark
    indices to zoom on (their bounding box, padded)."""
    fig = image_figure(image, height=height)
    add_points(fig, target, name="true points", colour=TARGET_COLOUR, size=9)
    for kind, pts in points.items():
        add_points(fig, pts, name=FLIP_LABELS.get(kind, kind), colour=FLIP_COLOURS.get(kind, "#333"),
                   symbol={"plain": "square", "mirrored": "diamond", "averaged": "star"}.get(kind, "circle"),
                   size=10 if kind == "averaged" else 8)
    if focus is not None and len(focus):
        box = np.asarray(target, float)[list(focus)]
        box = box[np.isfinite(box).all(axis=1)]
        if len(box):
            (x0, y0), (x1, y1) = box.min(0), box.max(0)
            pad = max(x1 - x0, y1 - y0) * 0.35 + 4
            fig.update_xaxes(range=[x0 - pad, x1 + pad])
            fig.update_yaxes(range=[y1 + pad, y0 - pad])
    _legend_below(fig, -0.01)
    fig.update_layout(margin=dict(l=0, r=0, t=0, b=40))
    return fig


def compare_bars_figure(rows: Sequence[Mapping], height: int = 340) -> go.Figure:
    """NME (%) of each decoder (rows of :meth:`lmkviz.evaluation.Evaluation.table`), one bar
    per decoder, with and without the flip test when rows carry ``"flip"``."""
    fig = go.Figure()
    groups: dict = {}
    for r in rows:
        groups.setdefault(bool(r.get("flip", False)), []).append(r)
    for flip, group in groups.items():
        fig.add_trace(go.Bar(
            x=[SHORT_DECODER_LABELS.get(r["decoder"], r["decoder"]) for r in group], y=[r["nme"] for r in group],
            name="with flip test" if flip else "without flip test", text=[f"{r['nme']:.2f}" for r in group],
            textposition="outside", cliponaxis=False,
            marker=dict(color=[DECODER_COLOURS.get(r["decoder"], "#333") for r in group],
                        pattern_shape="/" if flip else ""),
            hovertemplate="%{x}: NME %{y:.3f} %<extra></extra>"))
    fig.update_yaxes(title_text="NME (% inter-ocular)", rangemode="tozero", showgrid=True, gridcolor="#eee")
    fig.update_xaxes(tickangle=0)
    fig.update_layout(barmode="group", height=height, margin=dict(l=10, r=10, t=30, b=10), plot_bgcolor="white")
    _legend_below(fig, -0.15)
    return fig
