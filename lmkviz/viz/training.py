"""Figures of the Train page: loss and NME curves, the LR schedule, the LR finder, previews.

Inputs are the plain records of a run folder (see :mod:`lmkviz.runs`):
``metrics.jsonl`` step records ``{"kind": "step", "epoch", "step", "loss", "lr"}`` and
epoch records ``{"kind": "epoch", "epoch", "train_loss", "val_loss", "val_nme": {decoder: %}}``,
``lr_find.json`` and the arrays of ``preview.npz``.
"""

from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lmkviz.viz.images import colourise, photo_uri, png_uri
from lmkviz.viz.style import DECODER_COLOURS, DECODER_LABELS, DECODER_SYMBOLS, TARGET_COLOUR

TRAIN_COLOUR = "#0072B2"  # blue
VAL_COLOUR = "#D55E00"  # vermillion
LR_COLOUR = "#555555"


def _finite(values) -> list:
    return [v if v is not None and math.isfinite(v) else None for v in values]


def _empty(fig: go.Figure, text: str) -> go.Figure:
    fig.add_annotation(x=0.5, y=0.5, xref="paper", yref="paper", text=text, showarrow=False,
                       font=dict(size=13, color="#777"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


DECODER_SHORT = {"argmax": "argmax", "quarter": "quarter", "topk": "top-k", "dark": "DARK",
                 "softargmax": "soft-argmax"}
"""Legend names that fit a third of a page; hover texts keep the full :data:`DECODER_LABELS`."""


def nice_log_ticks(lo: float, hi: float, max_ticks: int = 6) -> tuple[list[float], list[str]]:
    """Tick values and labels for a log axis from ``lo`` to ``hi`` (both > 0): at most
    ``max_ticks`` values, all labels different.

    Decades (1, 10, 100...) when the range spans several; 1-2-5 or finer steps inside a
    decade; for a narrow range (a loss that moves by a few per cent), evenly spaced round
    values. Labels use as many significant digits as needed to tell the ticks apart, so
    that a plot never reads "0.0068, 0.0068, 0.0067".
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0 or hi <= 0:
        return [], []
    lo, hi = min(lo, hi), max(lo, hi)
    if hi / lo < 1.0000001:
        hi, lo = hi * 1.05, lo / 1.05
    values: list[float] = []
    for mantissas in ((1,), (1, 3), (1, 2, 5), (1, 1.5, 2, 3, 5, 7)):
        candidates = [m * 10.0 ** e for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
                      for m in mantissas]
        inside = [v for v in candidates if lo <= v <= hi]
        if len(inside) > max_ticks:
            break
        values = inside  # the finest set that still fits
    if len(values) < 3:  # a narrow range: evenly spaced round values
        raw = (hi - lo) / max(2, max_ticks - 1)
        power = 10.0 ** math.floor(math.log10(raw))
        step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
        first = math.ceil(lo / step) * step
        values = [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]
        values = [v for v in values if v > 0][:max_ticks]
    for digits in range(1, 8):
        labels = [f"{v:.{digits}g}" for v in values]
        if len(set(labels)) == len(labels):
            break
    return values, labels


def _epoch_axis(fig: go.Figure, total_epochs: Optional[float], data_max: float = 0.0, **axis) -> None:
    """The x-axis of every training chart: epochs from 0 to the planned number of epochs (or the
    data's end when unknown), integer ticks."""
    right = max(float(total_epochs or 0), float(data_max or 0), 1.0)
    dtick = max(1, math.ceil(right / 8))
    fig.update_xaxes(title_text="epoch", range=[0, right], dtick=dtick, tick0=0, **axis)


def ema(values: Sequence[Optional[float]], weight: float) -> list[Optional[float]]:
    """TensorBoard's smoothing: a debiased exponential moving average with ``weight`` in [0, 1)
    (0 = the values unchanged). Missing or non-finite values stay None and are skipped."""
    weight = min(max(float(weight), 0.0), 0.999)
    out: list[Optional[float]] = []
    last, count = 0.0, 0
    for v in values:
        if v is None or not math.isfinite(v):
            out.append(None)
            continue
        last = weight * last + (1 - weight) * v
        count += 1
        out.append(last / (1 - weight ** count) if weight > 0 else v)
    return out


def loss_figure(epochs: Sequence[Mapping], steps: Sequence[Mapping] = (), steps_per_epoch: Optional[int] = None,
                height: int = 300, total_epochs: Optional[int] = None) -> go.Figure:
    """Training loss of every logged step (thin), and per-epoch train / validation loss.

    x is in epochs, as on every training chart: a step record at global step s is drawn
    at ``s / steps_per_epoch`` (the epoch fraction done), an epoch record at its epoch
    number; the axis spans 0 to ``total_epochs`` (the planned epochs). Log y with
    distinct tick labels (:func:`nice_log_ticks`).
    """
    fig = go.Figure()
    ys: list[float] = []
    right = 0.0
    if steps and steps_per_epoch:
        xs = [r["step"] / steps_per_epoch for r in steps]
        values = _finite([r.get("loss") for r in steps])
        fig.add_trace(go.Scatter(
            x=xs, y=values, mode="lines", name="each step", line=dict(color=TRAIN_COLOUR, width=1), opacity=0.35,
            hovertemplate="step %{customdata}<br>loss %{y:.4g}<extra></extra>",
            customdata=[r["step"] for r in steps]))
        ys += [v for v in values if v is not None]
        right = max(xs)
    if epochs:
        xs = [r["epoch"] for r in epochs]
        train = _finite([r.get("train_loss") for r in epochs])
        val = _finite([r.get("val_loss") for r in epochs])
        fig.add_trace(go.Scatter(x=xs, y=train, mode="lines+markers", name="train",
                                 line=dict(color=TRAIN_COLOUR, width=2),
                                 hovertemplate="epoch %{x}<br>train loss (epoch mean) %{y:.4g}<extra></extra>"))
        fig.add_trace(go.Scatter(x=xs, y=val, mode="lines+markers", name="validation",
                                 line=dict(color=VAL_COLOUR, width=2), marker=dict(symbol="diamond", size=8),
                                 hovertemplate="epoch %{x}<br>val loss %{y:.4g}<extra></extra>"))
        ys += [v for v in train + val if v is not None]
        right = max(right, max(xs))
    if not fig.data:
        return _layout(_empty(fig, "no loss logged yet"), height)
    _epoch_axis(fig, total_epochs, right)
    _log_loss_axis(fig, ys, height)
    return _layout(fig, height)


def _log_loss_axis(fig: go.Figure, values: Sequence[Optional[float]], height: int) -> None:
    """A log y axis titled "loss (log scale)" over the positive ``values``, with the few distinct
    tick labels of :func:`nice_log_ticks` (plotly's own crowd and repeat on a narrow range)."""
    positive = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    if positive:
        lo, hi = min(positive), max(positive)
        ticks, labels = nice_log_ticks(lo, hi, max_ticks=max(3, height // 60))
        pad = (math.log10(hi) - math.log10(lo)) * 0.05 or 0.02
        fig.update_yaxes(type="log", tickvals=ticks, ticktext=labels,
                         range=[math.log10(lo) - pad, math.log10(hi) + pad])
    fig.update_yaxes(title_text="loss (log scale)", type="log")


def nme_figure(epochs: Sequence[Mapping], decoders: Optional[Sequence[str]] = None, height: int = 300,
               best_epoch: Optional[int] = None, total_epochs: Optional[int] = None) -> go.Figure:
    """Validation NME (% of the inter-ocular distance) of each decoder per epoch, decoder colours;
    x from 0 to ``total_epochs`` like the other training charts, the legend under the plot."""
    fig = go.Figure()
    xs = [r["epoch"] for r in epochs]
    names = list(decoders) if decoders else list(epochs[0].get("val_nme", {})) if epochs else []
    for name in names:
        ys = _finite([r.get("val_nme", {}).get(name) for r in epochs])
        label = DECODER_LABELS.get(name, name)
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines+markers", name=DECODER_SHORT.get(name, name),
            line=dict(color=DECODER_COLOURS.get(name, "#333"), width=2),
            marker=dict(symbol=DECODER_SYMBOLS.get(name, "circle"), size=9, color=DECODER_COLOURS.get(name, "#333"),
                        line=dict(color="white", width=1)),
            hovertemplate=f"{label}<br>epoch %{{x}}<br>NME %{{y:.2f}} %<extra></extra>"))
    if not xs:
        return _layout(_empty(fig, "the first epoch is not finished yet"), height)
    if best_epoch:
        fig.add_vline(x=best_epoch, line=dict(color="#999", dash="dot", width=1))
        fig.add_annotation(x=best_epoch, y=1, yref="paper", text="best", showarrow=False, yanchor="bottom",
                           font=dict(size=10, color="#777"))
    _epoch_axis(fig, total_epochs, max(xs))
    fig.update_yaxes(title_text="NME (% inter-ocular)", rangemode="tozero")
    _layout(fig, height)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0, font=dict(size=10)),
                      margin=dict(b=10, t=18))
    return fig


def lr_figure(steps: Sequence[Mapping], steps_per_epoch: Optional[int] = None, total_steps: Optional[int] = None,
              height: int = 300) -> go.Figure:
    """The learning rate of every logged step (the one-cycle schedule), x in epochs when known
    (0 to ``total_steps / steps_per_epoch``, the planned epochs), else in steps."""
    fig = go.Figure()
    if not steps:
        return _layout(_empty(fig, "no step logged yet"), height)
    per = steps_per_epoch or 1
    xs = [r["step"] / per for r in steps]
    fig.add_trace(go.Scatter(
        x=xs, y=[r.get("lr") for r in steps], mode="lines", name="learning rate",
        line=dict(color=LR_COLOUR, width=2), customdata=[r["step"] for r in steps],
        hovertemplate="step %{customdata}<br>lr %{y:.3g}<extra></extra>", showlegend=False))
    if steps_per_epoch:
        _epoch_axis(fig, total_steps / per if total_steps else None, max(xs))
    else:
        fig.update_xaxes(title_text="step", rangemode="tozero", range=[0, total_steps] if total_steps else None)
    fig.update_yaxes(title_text="learning rate", exponentformat="e", rangemode="tozero")
    return _layout(fig, height)


RUN_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
"""One colour per run in the comparison charts (Okabe-Ito, in order)."""


def compare_figure(runs: Sequence[Mapping], what: str = "val_nme", smoothing: float = 0.0,
                   height: int = 320) -> go.Figure:
    """Several runs' curves on one chart, x in epochs.

    runs: [{"label", "steps" (step records), "epochs" (epoch records), "steps_per_epoch",
    "decoder" (the run's primary decoder)}]. what: "val_nme" (validation NME of each run's
    primary decoder per epoch), "train_loss" (the loss of every logged step, smoothed by
    :func:`ema` with ``smoothing``; the raw steps faint behind) or "val_loss".
    """
    fig = go.Figure()
    right = 0.0
    for i, run in enumerate(runs):
        colour = RUN_COLOURS[i % len(RUN_COLOURS)]
        label = run["label"]
        if what == "train_loss":
            per = run.get("steps_per_epoch") or 0
            steps = run.get("steps") or []
            if not (steps and per):
                continue
            xs = [r["step"] / per for r in steps]
            raw = _finite([r.get("loss") for r in steps])
            if smoothing > 0:
                fig.add_trace(go.Scatter(x=xs, y=raw, mode="lines", line=dict(color=colour, width=1), opacity=0.2,
                                         hoverinfo="skip", showlegend=False, legendgroup=label))
            fig.add_trace(go.Scatter(x=xs, y=ema(raw, smoothing), mode="lines", name=label, legendgroup=label,
                                     line=dict(color=colour, width=2),
                                     hovertemplate=f"{label}<br>epoch %{{x:.2f}}<br>loss %{{y:.4g}}<extra></extra>"))
            right = max(right, max(xs))
        else:
            epochs = run.get("epochs") or []
            if not epochs:
                continue
            xs = [r["epoch"] for r in epochs]
            if what == "val_nme":
                ys = _finite([(r.get("val_nme") or {}).get(run.get("decoder", "dark")) for r in epochs])
                text = "NME %{y:.2f} %"
            else:
                ys = _finite([r.get(what) for r in epochs])
                text = "loss %{y:.4g}"
            fig.add_trace(go.Scatter(x=xs, y=ema(ys, smoothing), mode="lines+markers", name=label,
                                     line=dict(color=colour, width=2), marker=dict(size=6),
                                     hovertemplate=f"{label}<br>epoch %{{x}}<br>{text}<extra></extra>"))
            right = max(right, max(xs))
    if not fig.data:
        return _layout(_empty(fig, "no epoch finished in these runs yet"), height)
    _epoch_axis(fig, None, right)
    if what == "val_nme":
        fig.update_yaxes(title_text="validation NME (%)", rangemode="tozero")
    else:
        _log_loss_axis(fig, [v for t in fig.data for v in (t.y or ())], height)
    _layout(fig, height)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.2, xanchor="left", x=0, font=dict(size=11)))
    return fig


def lr_find_figure(lrs: Sequence[float], losses: Sequence[float], suggested: Optional[float] = None,
                   current: Optional[float] = None, height: int = 320) -> go.Figure:
    """The LR range test: smoothed loss against the learning rate (log x), as fastai's ``lr_find``.

    suggested: marked with a dot and a dashed line (steepest descent); current: the form's rate.
    """
    fig = go.Figure()
    lr = np.asarray(lrs, dtype=float)
    loss = np.asarray(losses, dtype=float)
    if len(lr) == 0:
        return _layout(_empty(fig, "no step yet"), height, None)
    fig.add_trace(go.Scatter(x=lr, y=_finite(loss.tolist()), mode="lines", name="smoothed loss",
                             line=dict(color=TRAIN_COLOUR, width=2), showlegend=False,
                             hovertemplate="lr %{x:.2e}<br>loss %{y:.4g}<extra></extra>"))
    ok = np.isfinite(loss)
    if ok.any():
        # clip the divergent tail so that the interesting part fills the plot
        lo = float(np.nanmin(loss[ok]))
        start = float(loss[ok][0])
        top = max(start, lo) + 0.15 * abs(max(start, lo) - lo) + 1e-12
        fig.update_yaxes(range=[lo - 0.08 * (top - lo), top])
    if suggested:
        y = float(np.interp(math.log10(suggested), np.log10(lr[ok]), loss[ok])) if ok.any() else None
        fig.add_vline(x=suggested, line=dict(color=VAL_COLOUR, dash="dash", width=1.5))
        if y is not None:
            fig.add_trace(go.Scatter(x=[suggested], y=[y], mode="markers", name="suggested",
                                     marker=dict(color=VAL_COLOUR, size=12, line=dict(color="white", width=1.5)),
                                     hovertemplate="suggested lr %{x:.2e}<extra></extra>", showlegend=False))
        fig.add_annotation(x=math.log10(suggested), y=1, yref="paper", text=f"suggested {suggested:.1e} ",
                           showarrow=False, xanchor="right", yanchor="top", font=dict(color=VAL_COLOUR, size=11))
    if current:
        fig.add_vline(x=current, line=dict(color="#777", dash="dot", width=1))
        fig.add_annotation(x=math.log10(current), y=0, yref="paper", text=f" in the form {current:.1e}",
                           showarrow=False, xanchor="left", yanchor="bottom", font=dict(color="#777", size=11))
    last = float(lr[ok][-1]) if ok.any() else float(lr[-1])
    right = max(last, current or 0, suggested or 0)
    fig.update_xaxes(type="log", title_text="learning rate (log scale)", exponentformat="e",
                     range=[math.log10(lr[0]), math.log10(right) + 0.15])
    fig.update_yaxes(title_text="loss (smoothed)")
    return _layout(fig, height, None)


def _layout(fig: go.Figure, height: int, title: Optional[str] = None) -> go.Figure:
    """Shared look; ``title`` is only for figures shown on their own (pages put headings above)."""
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=36 if title else 10, b=10),
                      title=dict(text=title, font=dict(size=14), x=0, xanchor="left") if title else None,
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0,
                                  font=dict(size=10), itemwidth=30, bgcolor="rgba(255,255,255,0)"),
                      hovermode="closest", plot_bgcolor="white")
    fig.update_xaxes(showgrid=True, gridcolor="#eee", zeroline=False)
    fig.update_yaxes(showgrid=True, gridcolor="#eee", zeroline=False)
    return fig


def preview_figure(images: np.ndarray, target: np.ndarray, pred: np.ndarray, heatmaps: Optional[np.ndarray],
                   decoder: str = "dark", errors: Optional[Sequence[float]] = None, height: Optional[int] = None,
                   titles: Optional[Sequence[str]] = None) -> go.Figure:
    """A few validation images: top row with the target and predicted points, bottom row with
    the predicted heatmaps (all channels, max over landmarks) over the image.

    images: (N, S, S, 3) uint8 network inputs; target, pred: (N, K, 2) input px;
    heatmaps: (N, K, h, w) scores in [0, 1], or None for a model without heatmaps (direct
    regression: the top row only); errors: optional N NME values (%) for the titles.
    Heatmap cell (i, j) covers input x in [j * S / w, (j + 1) * S / w) (pure scale).
    height: default fits panels of at most 260 px in a ~1100 px wide page.
    """
    n = len(images)
    rows = 1 if heatmaps is None else 2
    if height is None:
        height = int(rows * min(260, 1100 / max(n, 1)) + 50)
    s_h, s_w = images.shape[1:3]
    titles = list(titles) if titles else [f"image {i + 1}" + (f" · NME {errors[i]:.1f} %" if errors is not None
                                                              else "") for i in range(n)]
    fig = make_subplots(rows=rows, cols=n, horizontal_spacing=0.01, vertical_spacing=0.03,
                        subplot_titles=titles + [""] * n * (rows - 1))
    fig.update_annotations(font_size=12)
    colour = DECODER_COLOURS.get(decoder, "#333")
    label = DECODER_LABELS.get(decoder, decoder)
    maps = None if heatmaps is None else np.asarray(heatmaps, dtype=np.float32)
    for i in range(n):
        col = i + 1
        for row in range(1, rows + 1):
            axis = (row - 1) * n + col
            ref = "" if axis == 1 else str(axis)
            fig.add_layout_image(dict(source=photo_uri(images[i]), xref=f"x{ref}", yref=f"y{ref}", x=0, y=0,
                                      sizex=s_w, sizey=s_h, sizing="stretch", layer="below"))
        # heatmaps: max over channels, transparent where low (as heatmap_overlay)
        if maps is not None:
            rgba = _overlay_rgba(maps[i].max(axis=0))
            axis = n + col
            fig.add_layout_image(dict(source=png_uri(rgba), xref=f"x{axis}", yref=f"y{axis}", x=0, y=0,
                                      sizex=s_w, sizey=s_h, sizing="stretch", layer="above", opacity=0.9))
        t = np.asarray(target[i], dtype=float)
        p = np.asarray(pred[i], dtype=float)
        # error segments first, then the points
        seg_x, seg_y = [], []
        for (tx, ty), (px, py) in zip(t, p):
            if np.isfinite([tx, ty, px, py]).all():
                seg_x += [tx, px, None]
                seg_y += [ty, py, None]
        fig.add_trace(go.Scatter(x=seg_x, y=seg_y, mode="lines", line=dict(color="white", width=1),
                                 hoverinfo="skip", showlegend=False), row=1, col=col)
        fig.add_trace(go.Scatter(x=t[:, 0], y=t[:, 1], mode="markers", name="target", legendgroup="target",
                                 showlegend=i == 0,
                                 marker=dict(color=TARGET_COLOUR, size=6, line=dict(color="black", width=1)),
                                 hovertemplate="target %{x:.1f}, %{y:.1f}<extra></extra>"), row=1, col=col)
        fig.add_trace(go.Scatter(x=p[:, 0], y=p[:, 1], mode="markers", name=f"prediction ({label})",
                                 legendgroup="pred", showlegend=i == 0,
                                 marker=dict(color=colour, size=7, symbol=DECODER_SYMBOLS.get(decoder, "circle"),
                                             line=dict(color="black", width=1)),
                                 hovertemplate=f"{label} %{{x:.1f}}, %{{y:.1f}}<extra></extra>"), row=1, col=col)
    for axis in range(1, rows * n + 1):
        ref = "" if axis == 1 else str(axis)
        fig.update_layout({f"xaxis{ref}": dict(range=[0, s_w], visible=False, constrain="domain"),
                           f"yaxis{ref}": dict(range=[s_h, 0], visible=False, scaleanchor=f"x{ref}",
                                               scaleratio=1, constrain="domain")})
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=40, b=0), dragmode=False,
                      plot_bgcolor="rgba(0,0,0,0)", paper_bgcolor="rgba(0,0,0,0)",
                      legend=dict(orientation="h", yanchor="bottom", y=1.04, xanchor="right", x=1, font=dict(size=11)))
    return fig


def _overlay_rgba(values: np.ndarray) -> np.ndarray:
    """(h, w) scores in [0, 1] -> (h*u, w*u, 4) uint8 Viridis with alpha growing with the score."""
    up = max(1, int(np.ceil(96 / max(values.shape))))
    v = np.clip(np.nan_to_num(values), 0, 1).repeat(up, 0).repeat(up, 1)
    rgb = colourise(v, 1.0)
    alpha = (np.clip(v / 0.5, 0, 1) ** 0.8 * 255).astype(np.uint8)
    return np.dstack([rgb, alpha])

