"""The Train page's figures: one x unit (epochs, 0 to the planned epochs) on every chart,
distinct y tick labels on the log loss axis, smoothing and the runs comparison."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lmkviz.viz import training as vtrain


def cut_run(fraction_steps: int = 5, per: int = 8, epochs: int = 12):
    """A run killed after ``fraction_steps`` of its first epoch's ``per`` steps (x ends at 0.6)."""
    steps = [{"kind": "step", "epoch": 1, "step": s, "loss": 0.0069 - 4e-5 * s + 2e-5 * (s % 2), "lr": 3e-3 * s / 96}
             for s in range(1, fraction_steps + 1)]
    return steps, per, epochs


def test_every_training_chart_spans_the_planned_epochs():
    """The loss chart of a run at 0.6 epochs spanned 0-0.6 while its LR chart spanned 0-12."""
    steps, per, epochs = cut_run()
    loss = vtrain.loss_figure([], steps, per, total_epochs=epochs)
    lr = vtrain.lr_figure(steps, per, total_steps=per * epochs)
    records = [{"epoch": 1, "val_nme": {"dark": 9.0}}, {"epoch": 2, "val_nme": {"dark": 7.0}}]
    nme = vtrain.nme_figure(records, ["dark"], total_epochs=epochs)
    for fig in (loss, lr, nme):
        assert list(fig.layout.xaxis.range) == [0, 12] and fig.layout.xaxis.title.text == "epoch"
    # the step records sit at their epoch fraction on both charts
    assert loss.data[0].x[-1] == pytest.approx(5 / 8) and lr.data[0].x[-1] == pytest.approx(5 / 8)


def test_loss_axis_labels_are_distinct_on_a_narrow_range():
    steps, per, epochs = cut_run()
    fig = vtrain.loss_figure([], steps, per, total_epochs=epochs)
    labels = list(fig.layout.yaxis.ticktext)
    assert len(labels) >= 3 and len(set(labels)) == len(labels)
    values = list(fig.layout.yaxis.tickvals)
    lo, hi = (10 ** v for v in fig.layout.yaxis.range)
    assert all(lo <= v <= hi for v in values)


@pytest.mark.parametrize("seed", range(40))
def test_log_ticks_are_few_distinct_and_inside_any_range(seed):
    rng = np.random.default_rng(seed)
    lo = 10 ** rng.uniform(-6, 2)
    hi = lo * 10 ** rng.uniform(0.001, 5)
    values, labels = vtrain.nice_log_ticks(lo, hi, max_ticks=6)
    assert 2 <= len(values) <= 6
    assert len(set(labels)) == len(labels)
    assert all(lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9) for v in values)
    assert [float(t) for t in labels] == pytest.approx(values, rel=0.05)


def test_the_loss_legend_has_short_names():
    """Long legend entries wrapped into three rows and covered half of a third-of-a-page chart."""
    steps, per, epochs = cut_run()
    fig = vtrain.loss_figure([{"epoch": 1, "train_loss": 0.006, "val_loss": 0.007}], steps, per, total_epochs=epochs)
    names = [t.name for t in fig.data]
    assert names == ["each step", "train", "validation"]
    assert sum(len(n) for n in names) <= 25


def test_ema_smooths_like_tensorboard():
    values = [1.0, 3.0, None, float("nan"), 2.0]
    assert vtrain.ema(values, 0.0) == [1.0, 3.0, None, None, 2.0]
    smooth = vtrain.ema(values, 0.5)
    assert smooth[0] == pytest.approx(1.0)  # debiased: the first value is not pulled to 0
    assert smooth[1] == pytest.approx((0.25 * 1 + 0.5 * 3) / 0.75)
    assert smooth[2] is None and smooth[3] is None
    assert vtrain.ema([2.0] * 10, 0.9) == pytest.approx([2.0] * 10)


def test_compare_figure_overlays_runs_and_smooths_their_loss():
    rng = np.random.default_rng(0)
    runs = []
    for i in range(2):
        steps = [{"step": s, "loss": math.exp(-s / 50) * (1 + 0.3 * rng.standard_normal() ** 2)} for s in range(1, 101)]
        epochs = [{"epoch": e, "val_nme": {"dark": 10.0 - e - i}, "val_loss": 1.0 / e} for e in range(1, 5)]
        runs.append({"label": f"run {i}", "steps": steps, "epochs": epochs, "steps_per_epoch": 25,
                     "decoder": "dark"})
    nme = vtrain.compare_figure(runs, "val_nme")
    assert [t.name for t in nme.data] == ["run 0", "run 1"]
    assert list(nme.data[1].y) == [8.0, 7.0, 6.0, 5.0]
    raw = vtrain.compare_figure(runs, "train_loss", smoothing=0.0)
    smooth = vtrain.compare_figure(runs, "train_loss", smoothing=0.9)
    named = [t for t in smooth.data if t.showlegend is not False]
    assert [t.name for t in named] == ["run 0", "run 1"]
    wiggle = lambda y: float(np.abs(np.diff(np.log(np.asarray(y, dtype=float)))).mean())  # noqa: E731
    assert wiggle(named[0].y) < 0.5 * wiggle(raw.data[0].y)
    assert list(smooth.layout.xaxis.range) == [0, 4]


def test_the_compared_runs_loss_axis_has_few_distinct_labels():
    """The compare chart's log axis uses nice_log_ticks as the loss chart does (plotly's own ticks
    crowded "0.001 0.0009 0.0008 0.0007..." into a narrow decade)."""
    steps = [{"step": s, "loss": 0.0072 * (0.0003 / 0.0072) ** (s / 300)} for s in range(1, 301)]
    runs = [{"label": "a", "steps": steps, "epochs": [], "steps_per_epoch": 10, "decoder": "dark"}]
    fig = vtrain.compare_figure(runs, "train_loss", smoothing=0.0, height=320)
    labels = list(fig.layout.yaxis.ticktext)
    assert 3 <= len(labels) <= 320 // 60 and len(set(labels)) == len(labels)
    lo, hi = (10 ** v for v in fig.layout.yaxis.range)
    assert lo <= 0.0003 * 1.01 and hi >= 0.0072 * 0.99
