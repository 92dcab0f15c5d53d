"""Figures of the Compare decoders page: error curves, per-landmark errors, one sample's points.

Errors come from :class:`lmkviz.evaluation.Evaluation`: per-image NME as fractions of
the inter-ocular distance (shown in %), points in original image pixels. The
pixel-level zoom on a predicted heatmap is :func:`lmkviz.viz.encoding.zoom_figure`.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from lmkviz.viz.images import add_points, heatmap_grid, image_figure
from lmkviz.viz.style import (
    DECODER_COLOURS,
    DECODER_LABELS,
    DECODER_SYMBOLS,
    HEATMAP_COLOURSCALE,
    RUN_COLOURS,
    RUN_DASHES,
    TARGET_COLOUR,
    cell_text,
)


def _style(name: str) -> tuple[str, str, str]:
    return DECODER_LABELS.get(name, name), DECODER_COLOURS.get(name, "#333"), DECODER_SYMBOLS.get(name, "circle")


def ced_figure(nme: Mapping[str, np.ndarray], threshold: float = 0.10, height: int = 360,
               x_max: Optional[float] = None, styles: Optional[Mapping[str, tuple]] = None) -> go.Figure:
    """Cumulative error distribution: fraction of images with NME <= x, one line per decoder.

    nme: {decoder: (N,) per-image NME, fractions}. The failure threshold (FR / AUC) is
    marked by a dashed line labelled above the plot, where no curve runs; the area under
    a curve left of it, over the threshold, is the AUC. styles: {key: (label, colour,
    dash)} for keys that are not decoders (e.g. checkpoints, :func:`runs_ced_figure`).
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
        if styles and name in styles:
            label, colour, dash = styles[name]
        else:
            label, colour, _ = _style(name)
            dash = "solid"
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=label, line=dict(color=colour, width=2.5, dash=dash),
                                 hovertemplate=f"{label}<br>NME ≤ %{{x:.2f}} %: %{{y:.1%}} of images<extra></extra>"))
    fig.add_vline(x=threshold * 100, line=dict(color="#888", dash="dash", width=1))
    fig.add_annotation(x=threshold * 100, y=1.0, xref="x", yref="paper", yanchor="bottom", xanchor="center",
                       text=f"failure threshold {threshold * 100:g} %", showarrow=False,
                       font=dict(size=11, color="#555"))
    fig.update_xaxes(title_text="NME (% of the inter-ocular distance)", range=[0, top * 100])
    fig.update_yaxes(title_text="fraction of images with a smaller error", range=[0, 1.02], tickformat=".0%")
    _layout(fig, height)
    fig.update_layout(margin=dict(l=10, r=10, t=28, b=10),
                      legend=dict(orientation="h", yanchor="top", y=-0.2, xanchor="left", x=0, font=dict(size=11)))
    return fig


def runs_ced_figure(nme: Mapping[str, np.ndarray], threshold: float = 0.10, height: int = 380) -> go.Figure:
    """:func:`ced_figure` of several checkpoints: {label: (N,) per-image NME, fractions of
    one decoder each}, one colour (and dash) per checkpoint in order (:data:`RUN_COLOURS`)."""
    styles = {label: (label, RUN_COLOURS[i % len(RUN_COLOURS)], RUN_DASHES[(i // len(RUN_COLOURS)) % len(RUN_DASHES)])
              for i, label in enumerate(nme)}
    fig = ced_figure(nme, threshold=threshold, height=height, styles=styles)
    fig.update_layout(showlegend=True)  # also for one checkpoint: the legend names it
    return fig


def runs_group_figure(errors: Mapping[str, Mapping[str, float]], height: int = 320) -> go.Figure:
    """Grouped bars: mean error of each landmark group (% inter-ocular) per checkpoint.

    errors: {label: {group: %}} (:func:`lmkviz.evaluation.group_errors`), one colour per
    checkpoint in order as in :func:`runs_ced_figure`.
    """
    fig = go.Figure()
    for i, (label, by_group) in enumerate(errors.items()):
        colour = RUN_COLOURS[i % len(RUN_COLOURS)]
        fig.add_trace(go.Bar(x=list(by_group), y=list(by_group.values()), name=label, marker_color=colour,
                             text=[f"{v:.1f}" for v in by_group.values()], textposition="outside", cliponaxis=False,
                             hovertemplate=f"{label}<br>%{{x}}: %{{y:.2f}} %<extra></extra>"))
    fig.update_yaxes(title_text="mean error (% inter-ocular)", rangemode="tozero")
    fig.update_xaxes(title_text="landmark group")
    fig.update_layout(barmode="group", bargap=0.25)
    _layout(fig, height)
    fig.update_layout(margin=dict(l=10, r=10, t=20, b=10), showlegend=True,
                      legend=dict(orientation="h", yanchor="top", y=-0.25, xanchor="left", x=0, font=dict(size=11)))
    return fig


def per_landmark_figure(errors: Mapping[str, np.ndarray], indices: Sequence[int],
                        names: Optional[Sequence[str]] = None, height: int = 340,
                        groups: Optional[Mapping[str, Sequence[int]]] = None) -> go.Figure:
    """Mean error of each landmark (% inter-ocular) for every decoder.

    errors: {decoder: (k,) fractions}; indices: the k landmark numbers; names: their
    names for the hover. groups: {group: positions into ``indices``}
    (:func:`lmkviz.evaluation.landmark_groups`): the landmarks are ordered group by group,
    each group shaded and named above the plot. Bars side by side for a few landmarks,
    lines with white-ringed markers for many.
    """
    fig = go.Figure()
    k = len(indices)
    order = [j for pos in groups.values() for j in pos] if groups else list(range(k))
    labels = [str(indices[j]) for j in order]
    hover = [f"{indices[j]}: {names[j]}" if names else str(indices[j]) for j in order]
    for name, values in errors.items():
        label, colour, symbol = _style(name)
        ys = (np.asarray(values, dtype=float) * 100)[order]
        if k <= 12:
            fig.add_trace(go.Bar(x=labels, y=ys, name=label, marker_color=colour, customdata=hover,
                                 hovertemplate=f"{label}<br>%{{customdata}}<br>%{{y:.2f}} %<extra></extra>"))
        else:
            fig.add_trace(go.Scatter(x=labels, y=ys, mode="lines+markers", name=label,
                                     line=dict(color=colour, width=1.5),
                                     marker=dict(symbol=symbol, size=8, color=colour, line=dict(color="white", width=1)),
                                     customdata=hover,
                                     hovertemplate=f"{label}<br>%{{customdata}}<br>%{{y:.2f}} %<extra></extra>"))
    shapes, notes = [], []
    if groups:
        start = 0
        for number, (group, positions) in enumerate(groups.items()):
            end = start + len(positions)
            if number % 2 == 0:
                shapes.append(dict(type="rect", xref="x", yref="paper", x0=start - 0.5, x1=end - 0.5, y0=0, y1=1,
                                   fillcolor="rgba(0,0,0,0.05)", line=dict(width=0), layer="below"))
            notes.append(dict(x=(start + end - 1) / 2, y=1.0, xref="x", yref="paper", yanchor="bottom",
                              text=f"<b>{group}</b>", showarrow=False, font=dict(size=11, color="#444")))
            start = end
    fig.update_xaxes(title_text="landmark (grouped)" if groups else "landmark", type="category", tickangle=0,
                     dtick=1 if k <= 34 else 2, tickfont=dict(size=9 if k > 34 else 11))
    fig.update_yaxes(title_text="mean error (% inter-ocular)", rangemode="tozero")
    fig.update_layout(barmode="group", bargap=0.25, shapes=shapes, annotations=notes)
    _layout(fig, height)
    if groups:
        fig.update_layout(margin=dict(l=10, r=10, t=22, b=10),
                          legend=dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0, font=dict(size=11)))
    return fig


def sample_figure(image: np.ndarray, target: np.ndarray, preds: Mapping[str, np.ndarray],
                  indices: Sequence[int], names: Optional[Sequence[str]] = None, height: int = 520,
                  lines: bool = True) -> go.Figure:
    """One image with its target points and each decoder's points (all (k, 2) image px).

    lines: a thin segment from each target to the first decoder's point, so that large
    misses stand out. Decoder markers have their own colour and symbol and a white ring;
    the targets are yellow with a black ring.
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
    add_points(fig, target, name="target", colour=TARGET_COLOUR, size=9, labels=labels, index=list(indices),
               outline="black", outline_width=1)
    for name, points in preds.items():
        label, colour, symbol = _style(name)
        add_points(fig, points, name=label, colour=colour, symbol=symbol, size=10, labels=labels,
                   index=list(indices), outline="white", outline_width=1.2)
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0),
                      margin=dict(l=0, r=0, t=30, b=0))
    return fig


def heatmap_panels(maps: np.ndarray, indices: Sequence[int], positions: Optional[Sequence[int]] = None,
                   width_px: int = 560, max_cell: int = 150, zmax: Optional[float] = None,
                   scale_title: str = "heatmap value") -> go.Figure:
    """The (k, h, w) heatmaps of one image as a grid of numbered panels with a colour bar.

    positions: which of the k maps to show (e.g. one landmark group,
    :func:`lmkviz.evaluation.landmark_groups`), default all; the panels are then as
    large as ``width_px`` (the chart's width, colour bar included) allows, up to
    ``max_cell`` px, in a near-square grid of at most 8 columns. Every panel
    shares one colour scale, from 0 to ``zmax`` (default the highest value of all k maps,
    so that a group's panels compare with the rest).
    """
    maps = np.asarray(maps, dtype=np.float32)
    chosen = list(range(len(maps))) if positions is None else [int(p) for p in positions]
    top = float(zmax) if zmax is not None else max(float(np.nanmax(maps)) if maps.size else 1.0, 1e-6)
    k = len(chosen)
    columns = max(1, k) if k <= 4 else min(8, max(3, int(np.ceil(np.sqrt(1.3 * k)))))
    bar_px = 90
    cell = max(56, min(max_cell, (width_px - bar_px) // columns))
    fig = heatmap_grid(maps[chosen], titles=[str(indices[j]) for j in chosen], columns=columns, cell_px=cell,
                       zmax=top)
    fig.add_trace(go.Scatter(  # carries the colour bar only
        x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
        marker=dict(color=[0.0], cmin=0.0, cmax=top, colorscale=HEATMAP_COLOURSCALE, showscale=True,
                    colorbar=dict(title=dict(text=scale_title, side="right"), thickness=14, len=1.0, x=1.0,
                                  xanchor="left", tickformat=".2f"))))
    fig.update_layout(margin=dict(l=0, r=bar_px, t=fig.layout.margin.t or 0, b=0))
    return fig


def cell_zoom_figure(heatmap: np.ndarray, truth: Sequence[float], estimates: Mapping[str, Sequence[float]],
                     stride: float, radius: int = 4, height: int = 500, decimals: int = 2) -> go.Figure:
    """:func:`lmkviz.viz.encoding.zoom_figure` of a predicted heatmap with every cell's value
    written the same way (:func:`lmkviz.viz.style.cell_text`: ``decimals`` decimals, "0.00"
    for values that round to zero, never a blank or "-0.00"), as long as the window is small
    enough to write in (11 x 11 cells)."""
    from lmkviz.viz.encoding import zoom_figure

    fig = zoom_figure(heatmap, truth, estimates, stride, radius=radius, height=height)
    cells = fig.data[0]
    z = np.asarray(cells.z, dtype=float)
    if z.size <= 121:
        cells.update(text=[[cell_text(v, decimals) for v in row] for row in z], texttemplate="%{text}")
    return fig


def _layout(fig: go.Figure, height: int) -> go.Figure:
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="white",
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0, font=dict(size=11)),
                      hovermode="closest")
    fig.update_xaxes(showgrid=True, gridcolor="#eee", zeroline=False)
    fig.update_yaxes(showgrid=True, gridcolor="#eee", zeroline=False)
    return fig
