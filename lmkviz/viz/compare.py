"""Figures of the Compare decoders page: error curves, per-landmark errors, one sample's points.

Errors come from :class:`lmkviz.evaluation.Evaluation`: per-image NME as fractions of
the inter-ocular distance (shown in %), points in original image pixels. The
pixel-level zoom on a predicted heatmap is :func:`lmkviz.viz.encoding.zoom_figure`.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from lmkviz.viz.images import add_points, image_figure
from lmkviz.viz.style import DECODER_COLOURS, DECODER_LABELS, DECODER_SYMBOLS, TARGET_COLOUR


def _style(name: str) -> tuple[str, str, str]:
    return DECODER_LABELS.get(name, name), DECODER_COLOURS.get(name, "#333"), DECODER_SYMBOLS.get(name, "circle")


def ced_figure(nme: Mapping[str, np.ndarray], threshold: float = 0.10, height: int = 360,
               x_max: Optional[float] = None) -> go.Figure:
    """Cumulative error distribution: fraction of images with NME <= x, one line per decoder.

    nme: {decoder: (N,) per-image NME, fractions}. The failure threshold (FR / AUC) is
    marked; the area under a curve left of it, over the threshold, is the AUC.
    """
    fig = go.Figure()
    every = np.concatenate([np.asarray(v, dtype=float) for v in nme.values()]) if nme else np.zeros(1)
    every = every[np.isfinite(every)]
    top = x_max if x_max is not None else max(threshold * 1.5, float(np.quantile(every, 0.98)) * 1.05
                                                 if len(every) else threshold)
    for name, errors in nme.items():
        e = np.sort(np.asarray(errors, dtype=float))
        e = e[np.isfinite(e)]
        n = len(e)
        if n == 0:
            continue
        # a step curve: (0, 0), then up by 1/n at each error
        xs = np.concatenate([[0.0], np.repeat(e, 2), [max(top, e[-1])]]) * 100
        ys = np.concatenate([[0.0, 0.0], np.repeat(np.arange(1, n + 1) / n, 2)])[: len(xs)]
        label, colour, _ = _style(name)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=label, line=dict(color=colour, width=2.5),
                                 hovertemplate=f"{label}<br>NME ≤ %{{x:.2f}} %: %{{y:.1%}} of images<extra></extra>"))
    fig.add_vline(x=threshold * 100, line=dict(color="#888", dash="dash", width=1))
    fig.add_annotation(x=threshold * 100, y=1.0, yref="y", text=f" failure threshold {threshold * 100:g} %",
                       showarrow=False, xanchor="left", yanchor="top", font=dict(size=11, color="#666"),
                       bgcolor="rgba(255,255,255,0.8)")
    fig.update_xaxes(title_text="NME (% of the inter-ocular distance)", range=[0, top * 100])
    fig.update_yaxes(title_text="fraction of images with a smaller error", range=[0, 1.02], tickformat=".0%")
    return _layout(fig, height)


def per_landmark_figure(errors: Mapping[str, np.ndarray], indices: Sequence[int],
                        names: Optional[Sequence[str]] = None, height: int = 340) -> go.Figure:
    """Mean error of each landmark (% inter-ocular) for every decoder.

    errors: {decoder: (k,) fractions}; indices: the k landmark numbers; names: their
    names for the hover. Bars side by side for a few landmarks, lines for many.
    """
    fig = go.Figure()
    k = len(indices)
    labels = [str(i) for i in indices]
    hover = [f"{i}: {names[j]}" if names else str(i) for j, i in enumerate(indices)]
    for name, values in errors.items():
        label, colour, symbol = _style(name)
        ys = np.asarray(values, dtype=float) * 100
        if k <= 12:
            fig.add_trace(go.Bar(x=labels, y=ys, name=label, marker_color=colour, customdata=hover,
                                 hovertemplate=f"{label}<br>%{{customdata}}<br>%{{y:.2f}} %<extra></extra>"))
        else:
            fig.add_trace(go.Scatter(x=labels, y=ys, mode="lines+markers", name=label,
                                     line=dict(color=colour, width=1.5),
                                     marker=dict(symbol=symbol, size=7, color=colour), customdata=hover,
                                     hovertemplate=f"{label}<br>%{{customdata}}<br>%{{y:.2f}} %<extra></extra>"))
    fig.update_xaxes(title_text="landmark", type="category", tickangle=0,
                     dtick=1 if k <= 34 else 4)
    fig.update_yaxes(title_text="mean error (% inter-ocular)", rangemode="tozero")
    fig.update_layout(barmode="group", bargap=0.25)
    return _layout(fig, height)


def sample_figure(image: np.ndarray, target: np.ndarray, preds: Mapping[str, np.ndarray],
                  indices: Sequence[int], names: Optional[Sequence[str]] = None, height: int = 520,
                  lines: bool = True) -> go.Figure:
    """One image with its target points and each decoder's points (all (k, 2) image px).

    lines: a thin segment from each target to the first decoder's point, so that large
    misses stand out.
    """
    fig = image_figure(image, height=height)
    labels = [names[j] for j in range(len(indices))] if names else None
    if lines and preds:
        first = next(iter(preds.values()))
        xs, ys = [], []
        for (tx, ty), (px, py) in zip(np.asarray(target, float), np.asarray(first, float)):
            if np.isfinite([tx, ty, px, py]).all():
                xs += [tx, px, None]
                ys += [ty, py, None]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color="rgba(255,255,255,0.8)", width=1),
                                 hoverinfo="skip", showlegend=False))
    add_points(fig, target, name="target", colour=TARGET_COLOUR, size=8, labels=labels, index=list(indices))
    for name, points in preds.items():
        label, colour, symbol = _style(name)
        add_points(fig, points, name=label, colour=colour, symbol=symbol, size=8, labels=labels,
                   index=list(indices))
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0),
                      margin=dict(l=0, r=0, t=30, b=0))
    return fig


def _layout(fig: go.Figure, height: int) -> go.Figure:
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="white",
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0, font=dict(size=11)),
                      hovermode="closest")
    fig.update_xaxes(showgrid=True, gridcolor="#eee", zeroline=False)
    fig.update_yaxes(showgrid=True, gridcolor="#eee", zeroline=False)
    return fig
