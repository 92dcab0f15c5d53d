"""Figures of the Dataset browser: sample grids, one annotated face, augmentation draws, statistics.

Landmarks are coloured by their main group (:data:`lmkviz.viz.style.GROUP_COLOURS`)
and hovering a point shows its number, name and group.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from lmkviz.viz.images import add_points, fit_image, image_figure, mosaic
from lmkviz.viz.style import GROUP_COLOURS, HEATMAP_COLOURSCALE, OTHER_POINTS_COLOUR, SPLIT_COLOURS, group_of

MAIN_GROUPS_ORDER = ("jaw", "brows", "nose", "eyes", "mouth", "all")


def _by_group(scheme, indices: Sequence[int]) -> dict[str, list[int]]:
    """{group: landmark numbers} in display order, for the given landmark numbers."""
    groups: dict[str, list[int]] = {}
    for i in indices:
        groups.setdefault(group_of(scheme, int(i)), []).append(int(i))
    return {g: groups[g] for g in MAIN_GROUPS_ORDER if g in groups}


def add_landmarks(fig: go.Figure, points: np.ndarray, scheme, indices: Optional[Sequence[int]] = None, *,
                  numbers: bool = False, size: int = 8, show_others: bool = True, show_legend: bool = True,
                  offset: tuple[float, float] = (0.0, 0.0), scale: float = 1.0, legend_group: bool = True,
                  hover_prefix: str = "") -> go.Figure:
    """Add (K, 2) landmarks coloured by group; those outside ``indices`` small and faint.

    Points are drawn at ``points * scale + offset`` (for mosaics). Hover: number,
    name, group.
    """
    pts = np.asarray(points, dtype=float) * scale + np.asarray(offset, dtype=float)
    k = len(pts)
    chosen = list(range(k)) if indices is None else [int(i) for i in indices]
    if show_others and len(chosen) < k:
        others = sorted(set(range(k)) - set(chosen))
        add_points(fig, pts[others], name="other points", colour=OTHER_POINTS_COLOUR, size=max(3, size // 2),
                   index=others, labels=[hover_prefix + scheme.names[i] for i in others], show_legend=False)
    for group, idx in _by_group(scheme, chosen).items():
        labels = [f"{hover_prefix}{scheme.names[i]} ({group})" for i in idx]
        add_points(fig, pts[idx], name=group, colour=GROUP_COLOURS.get(group, GROUP_COLOURS["all"]), size=size,
                   labels=labels, index=idx, numbers=numbers, show_legend=show_legend)
        if legend_group:
            fig.data[-1].legendgroup = group
    return fig


def landmark_figure(image: np.ndarray, points: np.ndarray, scheme, indices: Optional[Sequence[int]] = None,
                    numbers: bool = True, height: int = 560) -> go.Figure:
    """One face with its landmarks, numbered, coloured by group; hover shows number, name and group."""
    fig = image_figure(image, height=height)
    size = 9 if len(points) <= 70 else 7
    add_landmarks(fig, points, scheme, indices, numbers=numbers, size=size)
    fig.update_layout(legend=dict(title_text="", itemsizing="constant"))
    return fig


def sample_grid(images: Sequence[np.ndarray], points: Sequence[np.ndarray], titles: Sequence[str], scheme,
                indices: Optional[Sequence[int]] = None, columns: int = 6, tile: int = 180,
                height_per_row: int = 160) -> go.Figure:
    """Thumbnails (fitted into ``tile`` px squares) with their landmarks, in one figure.

    images: (H, W, 3) uint8 each (any sizes); points: (K, 2) image px each; titles:
    one caption per thumbnail (also in the hover).
    """
    fitted = [fit_image(im, tile, tile) for im in images]
    panels = np.stack([f[0] for f in fitted]) if fitted else np.zeros((0, tile, tile, 3), np.uint8)
    columns = max(1, min(columns, len(panels) or 1))
    picture, corners = mosaic(panels, columns, gap=6) if len(panels) else (np.full((tile, tile, 3), 255, np.uint8), [])
    fig = image_figure(picture, height=100)
    chosen = list(range(scheme.num_points)) if indices is None else [int(i) for i in indices]
    groups = _by_group(scheme, chosen)
    placed: dict[str, tuple[list, list, list]] = {g: ([], [], []) for g in groups}  # one trace per group
    notes = []
    for (x, y), (canvas, scale, ox, oy), pts, title in zip(corners, fitted, points, titles):
        pts = np.asarray(pts, dtype=float) * scale + (x + ox, y + oy)
        for group, idx in groups.items():
            xy, labels, numbers = placed[group]
            xy.append(pts[idx])
            labels += [f"{title}<br>{scheme.names[i]} ({group})" for i in idx]
            numbers += idx
        notes.append(dict(x=x + 3, y=y + 3, text=title, showarrow=False, xanchor="left", yanchor="top",
                          font=dict(size=11, color="white"), bgcolor="rgba(0,0,0,0.5)", borderpad=2))
    for group, (xy, labels, numbers) in placed.items():
        if xy:
            add_points(fig, np.concatenate(xy), name=group, colour=GROUP_COLOURS.get(group, GROUP_COLOURS["all"]),
                       size=5, labels=labels, index=numbers)
    fig.update_layout(annotations=notes)
    rows = (len(panels) + columns - 1) // columns if len(panels) else 1
    fig.update_layout(height=rows * height_per_row, margin=dict(l=0, r=0, t=24, b=0), dragmode=False)
    return fig


def augmentation_figure(original: tuple[np.ndarray, np.ndarray], draws, scheme,
                        indices: Optional[Sequence[int]] = None, marker: Optional[int] = None,
                        height: int = 300) -> go.Figure:
    """The evaluation view of a sample and several training-augmentation draws, side by side.

    original: (image (S, S, 3), points (K, 2)); draws: :class:`lmkviz.labs.AugmentDraw`
    list. ``marker``: a landmark number circled in every panel, to follow it
    through flips (its left/right partner takes its place in mirrored draws).
    """
    panels = [original[0]] + [d.image for d in draws]
    all_points = [original[1]] + [d.points for d in draws]
    titles = ["no augmentation"] + [f"draw {i + 1}" + (" · mirrored" if d.flipped else "")
                                     for i, d in enumerate(draws)]
    size = panels[0].shape[0]
    picture, corners = mosaic(np.stack(panels), columns=len(panels), gap=8)
    fig = image_figure(picture, height=height)
    for n, ((x, y), pts, title) in enumerate(zip(corners, all_points, titles)):
        add_landmarks(fig, pts, scheme, indices, size=6, show_others=False, show_legend=n == 0,
                      offset=(x, y), hover_prefix=f"{title}<br>")
        if marker is not None and np.isfinite(pts[marker]).all():
            fig.add_trace(go.Scatter(
                x=[pts[marker, 0] + x], y=[pts[marker, 1] + y], mode="markers", showlegend=n == 0,
                name=f"{marker}: {scheme.names[marker]}", legendgroup="marker",
                marker=dict(symbol="circle-open", size=20, color="#D55E00", line=dict(width=3)),
                hovertemplate=f"{marker}: {scheme.names[marker]}<extra>{title}</extra>"))
        fig.add_annotation(x=x + size / 2, y=y, text=title, showarrow=False, yanchor="bottom",
                           font=dict(size=12))
    fig.update_layout(margin=dict(l=0, r=0, t=44, b=0), legend=dict(y=1.12), dragmode=False)
    return fig


def split_counts_figure(counts: Mapping[str, int], height: int = 240) -> go.Figure:
    """Bar chart: samples per split."""
    names = list(counts)
    fig = go.Figure(go.Bar(x=names, y=[counts[n] for n in names], text=[f"{counts[n]:,}" for n in names],
                           textposition="outside", cliponaxis=False,
                           marker_color=[SPLIT_COLOURS.get(n, "#777") for n in names],
                           hovertemplate="%{x}: %{y} samples<extra></extra>"))
    fig.update_yaxes(title_text="samples", rangemode="tozero")
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=20, b=10), showlegend=False)
    return fig


def _unit_axes(fig: go.Figure, title: str = "") -> None:
    fig.update_xaxes(range=[0, 1], title_text="x / image width", constrain="domain", zeroline=False)
    fig.update_yaxes(range=[1, 0], title_text="y / image height", scaleanchor="x", scaleratio=1,
                     constrain="domain", zeroline=False)


def mean_shape_figure(mean01: np.ndarray, scheme, indices: Optional[Sequence[int]] = None,
                      height: int = 420) -> go.Figure:
    """The mean landmark positions, normalised by image size (x / W, y / H), numbered."""
    fig = go.Figure()
    add_landmarks(fig, mean01, scheme, indices, numbers=len(mean01) <= 110, size=7)
    for trace in fig.data:
        if trace.mode and "text" in trace.mode:
            trace.textfont = dict(size=9, color="#333", shadow="none")
    _unit_axes(fig)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="#f4f4f4",
                      legend=dict(orientation="h", yanchor="top", y=-0.14, x=0))
    return fig


def density_figure(counts: np.ndarray, mean01: Optional[np.ndarray] = None,
                   indices: Optional[Sequence[int]] = None, height: int = 420) -> go.Figure:
    """Where the landmarks fall: a (bins, bins) histogram on [0, 1]^2 (log colour), with the mean shape."""
    bins = counts.shape[0]
    fig = go.Figure(go.Heatmap(
        z=np.log1p(counts), x0=0.5 / bins, dx=1 / bins, y0=0.5 / bins, dy=1 / bins, colorscale=HEATMAP_COLOURSCALE,
        customdata=counts, hovertemplate="x %{x:.2f}, y %{y:.2f}: %{customdata:.0f} points<extra></extra>",
        colorbar=dict(title=dict(text="log(1 + count)", side="right"), thickness=10)))
    if mean01 is not None:
        pts = np.asarray(mean01)[list(indices)] if indices is not None else np.asarray(mean01)
        fig.add_trace(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="markers", name="mean position",
                                 marker=dict(size=4, color="white", line=dict(color="black", width=0.5)),
                                 hoverinfo="skip"))
    _unit_axes(fig)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), showlegend=False)
    return fig


def image_size_figure(sizes: np.ndarray, height: int = 320) -> go.Figure:
    """Image sizes: one dot per distinct width x height, its area proportional to the count."""
    sizes = np.asarray(sizes).reshape(-1, 2)
    if len(sizes) == 0:
        return go.Figure()
    distinct, count = np.unique(sizes, axis=0, return_counts=True)
    few = len(distinct) <= 30
    area = (10 + 30 * np.sqrt(count / count.max())) if few else (4 + 12 * np.sqrt(count / count.max()))
    fig = go.Figure(go.Scatter(
        x=distinct[:, 1], y=distinct[:, 0], mode="markers", customdata=count,
        marker=dict(size=area, color="#0072B2", opacity=0.6 if few else 0.45, line=dict(color="white", width=0.5)),
        hovertemplate="%{x} × %{y} px: %{customdata} images<extra></extra>"))
    fig.update_xaxes(title_text="width (px)", rangemode="tozero")
    fig.update_yaxes(title_text="height (px)", rangemode="tozero")
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), showlegend=False)
    return fig
