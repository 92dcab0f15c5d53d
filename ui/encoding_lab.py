"""Texts, defaults and small table builders of the Encoding lab page."""

from __future__ import annotations

from typing import Optional

from lmkviz.decoding import DECODER_LABELS
from lmkviz.labs import LAB_ENCODING_LABELS  # noqa: F401  (the page's labels of ENCODING_ORDER)

INPUT_SIZES = (64, 96, 128, 192, 256, 384, 512)
ENCODING_ORDER = ("gaussian_int", "gaussian", "binary", "udp", "simcc")
DEFAULT_SAMPLE = 3
DRAW_COUNTS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)

ENCODING_CAPTIONS = {
    "gaussian_int": "centred on the point's cell, as the blog does",
    "gaussian": "centred on the exact point",
    "binary": "one random cell near the point is 1",
    "udp": "sub-pixel, cells aligned on the corners",
    "simcc": "no heatmap: an x vector and a y vector",
}

INTRO = (
    "A landmark network outputs one **heatmap** per point. Training needs a target heatmap for every point "
    "(the **encoding**); using the network needs a way back from heatmap to point (the **decoder**). Both "
    "lose precision on a grid coarser than the image. Pick a face and a landmark in the sidebar, change the "
    "encoding below, and follow that landmark through both steps."
)

ENCODING_TEXT = {
    "gaussian_int": (
        "**Gaussian, integer centre: the blog's encoder.** The blob is centred on the *centre of the cell* "
        "that contains the point (the blog truncates with `int()`). Where the point lies inside its cell is "
        "thrown away before training starts, and no decoder can get it back. Compare the yellow dot with the "
        "peak, then switch to the sub-pixel Gaussian."
    ),
    "gaussian": (
        "**Gaussian, sub-pixel centre.** The blob is centred on the exact point, sampled at the cell centres "
        "(j + 0.5). The position inside the cell survives as the *balance* between neighbouring cells, "
        "which is what quarter offset, top-k and DARK read."
    ),
    "binary": (
        "**Binary, randomized rounding (H3R).** One cell is 1, all others 0. It is drawn among the four cells "
        "whose centres surround the point, the nearer the likelier: one draw is up to a cell off, but the "
        "average of many draws is exactly the point (section 3). Trained with BCE on many draws, a network "
        "learns these probabilities."
    ),
    "udp": (
        "**Gaussian, UDP's corner-aligned scaling (Huang et al. 2020).** The same sub-pixel blob, but the "
        "image is mapped onto the heatmap differently: the *centres* of the first and last image pixels sit on "
        "the centres of the first and last cells, so one cell is (W − 1) / (w − 1) image pixels (4.05 for "
        "256 → 64) instead of W / w, and the map hangs half a cell over the image's edges. The round trip is "
        "just as exact; the stride is not the network's."
    ),
    "simcc": (
        "**SimCC (Li et al. 2022): no heatmap at all.** Each point becomes two 1-D label vectors, one for x and "
        "one for y, with 2 bins per input pixel (a finer grid than any heatmap) and a Gaussian of σ **bins** "
        "around the point. A SimCC head classifies each coordinate over its bins; the decoders read each "
        "vector on its own (argmax, DARK in 1-D, soft-argmax). Left: the inspected landmark's two vectors "
        "beside the image; right: every selected landmark's vectors, one row each."
    ),
}

DECODE_TEXT = (
    "Zoomed in on the inspected landmark: each square is one heatmap cell with its value. Cell boundaries are "
    "whole numbers, centres half-integers. **argmax** takes the centre of the highest cell; **quarter offset** "
    "moves a quarter cell towards the higher neighbour; **top-k** takes the k highest cells in a window around "
    "the peak and averages their centres, each weighted by its value (for a network's logits, by their softmax, "
    "as H3R does); **soft-argmax** averages every cell's centre the same way over the whole map; **DARK** fits a parabola to the *log* of the map around the peak (a Gaussian's log is exactly "
    "one) and jumps to its top. Add a little noise and watch DARK: derivatives amplify noise, which is why "
    "the DARK note blurs the map first. DARK also needs a neighbour on every side, so in the outermost "
    "cells it falls back to argmax."
)

ZOOM_CAPTION = ("Errors in input-image px (heatmap error × stride) and in % of the inter-ocular distance. "
                "Markers on the same spot are drawn smaller on top of each other; hover them for coordinates.")

SWEEP_CAPTION = (
    "Same round trip, one setting changed at a time; the dashed line marks the current setting. Every point "
    "of a curve uses the same random sub-cell positions, and the shaded band is the 95 % range of each mean "
    "(± 1.96 standard errors over the sampled points): a wiggle inside it is sampling, not the setting. Grey "
    "dotted: a perfect argmax's mean error, 0.38 cell × stride, which doubles every time the heatmap halves. "
    "Sub-pixel decoders beat it only while the map still carries sub-cell information (not with the integer "
    "centre)."
)

SWEEP_TOGGLE_HELP = ("Two charts of the round trip's error against the heatmap size (SimCC: bins per pixel) and "
                     "against σ. Computing them takes a few seconds the first time for each setting.")


def sweep_spinner(encoding: str) -> str:
    """What the page says while the sweeps compute."""
    from ui.cached import HEATMAP_SIZES, SIGMAS, SIMCC_RATIOS, SWEEP_POINTS

    first = (f"{len(SIMCC_RATIOS)} SimCC ratios" if encoding == "simcc"
             else f"{len(HEATMAP_SIZES)} heatmap sizes")
    second = "" if encoding == "binary" else f" and {len(SIGMAS)} values of σ"
    return f"Computing the sweeps: {SWEEP_POINTS} random points through every decoder at {first}{second}…"


def grid_caption(titles: list[str], heatmap_size: int, pooled: Optional[str] = None) -> str:
    """The caption of the heatmap grid picture (its panels' titles: the channels' landmark numbers)."""
    which = f"All {len(titles)} selected channels" + (f" ({', '.join(titles)})" if len(titles) <= 12 else "")
    return (f"{which}, {heatmap_size}×{heatmap_size} cells each" + (f", {pooled}" if pooled else "")
            + ", same colour scale 0 → 1 (dark blue 0, yellow 1). The network learns to paint exactly these.")


SIMCC_DECODE_TEXT = (
    "Zoomed in on the inspected landmark's two SimCC vectors: grey bars are bins (2 per input pixel) with their "
    "values, the black line is the true position. **argmax** takes the centre of the highest bin; **DARK** fits "
    "a parabola to the log of the three bins around it (1-D); **soft-argmax** averages every bin's centre, "
    "weighted by its value. Quarter offset and top-k are heatmap decoders: SimCC does not use them."
)

SIGMA_HELP = {
    "binary": "The binary encoding has no σ: every map is a single 1.",
    "simcc": "SimCC: the standard deviation of each label vector's Gaussian, in bins (2 bins per input pixel).",
}
DEFAULT_SIGMA_HELP = "Standard deviation of the Gaussian, in heatmap cells."


def short_number(value: float) -> str:
    """A number in at most three significant digits, for a metric's narrow column: 4, 5.33, 10.7, 1,250."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def stride_label(encoding: str) -> str:
    """The stride metric's label (its value is then a short number of px)."""
    return "Stride (px per bin)" if encoding == "simcc" else "Stride (px per cell)"


def half_cell_label(encoding: str) -> str:
    """The label of the 'half a cell' metric (a SimCC grid has bins, not cells)."""
    return "Half a bin" if encoding == "simcc" else "Half a cell"


def sigma_label(encoding: str) -> str:
    return "Sigma σ (SimCC bins)" if encoding == "simcc" else "Sigma σ (heatmap cells)"

QUANTISATION_TEXT = (
    "The blog's example: a point at (1822, 412) in a 2500 × 2500 image and a 64 × 64 heatmap, a stride of "
    "39 px. Even a *perfect* network can only point at a cell. Where is the point once that cell is "
    "scaled back to the image?"
)

ROUNDING_TEXT = (
    "H3R's answer, from the blog's second half: each training target puts its 1 in one of the four cells "
    "around the point at random, with probabilities chosen so that the *average* is exactly the point. The "
    "blog picks between integer coordinates, to match its decoder's cell j ↦ j × stride; in lmkviz cell j "
    "is centred on j + 0.5, so the candidates are the cells whose **centres** surround the point. Shading "
    "and p give the four chances; the cross is the mean of the draws so far."
)


def grid_layout(channels: int, width_px: int = 600) -> tuple[int, int]:
    """(columns, panel height in px) for a heatmap grid of ``channels`` panels about ``width_px`` wide."""
    for limit, columns in ((1, 1), (2, 2), (6, 3), (12, 4), (30, 6)):
        if channels <= limit:
            break
    else:
        columns = 9
    return columns, max(60, min(320, width_px // columns))


def percent_iod(percent: Optional[float]) -> Optional[str]:
    """"1.23 % IOD" for an error in % of the inter-ocular distance, or None."""
    return None if percent is None else f"{percent:.2f} % IOD"


def estimate_rows(estimates: list[dict]) -> list[dict]:
    """Table rows of :func:`lmkviz.labs.decoder_estimates`: decoder, error in px and % IOD, estimate."""
    rows = []
    for e in estimates:
        row = {"decoder": DECODER_LABELS.get(e["decoder"], e["decoder"]), "error px": round(e["error_px"], 2)}
        if e["error_iod"] is not None:
            row["% IOD"] = round(e["error_iod"], 2)
        row["x, y (px)"] = f"{e['x']:.1f}, {e['y']:.1f}"
        rows.append(row)
    return rows


def roundtrip_caption(result, encoding: str, noise: float, blur: float, border: bool) -> str:
    """What the round-trip numbers mean and what to notice."""
    parts = [f"Mean error of each decoder over {result.n} random sub-pixel points encoded with these settings"
             + (f", noise {noise:g}" if noise else "") + (f", DARK blur {blur:g}" if blur else "") + "."]
    mean = result.mean
    if encoding == "gaussian_int":
        parts.append("With the integer centre every decoder lands on the cell centre: the sub-cell position was "
                     "lost when encoding, so smarter decoding cannot help.")
    elif encoding == "binary":
        parts.append("A single binary draw is off by up to a cell whatever the decoder; the precision comes "
                     "from averaging many draws in training (section 3).")
    elif encoding == "simcc":
        parts.append("SimCC's vectors have 2 bins per pixel, so even argmax is off by at most a quarter pixel "
                     "per axis; DARK and soft-argmax read the exact position from a clean vector.")
    elif result.nearly_exact("dark") and not noise:
        parts.append("DARK is (almost) exact: the log of a clean Gaussian is a parabola, which it fits perfectly.")
    elif noise and not blur and mean["dark"] > mean["topk"]:
        parts.append("With noise and no blur DARK loses to top-k: its derivatives amplify the noise. "
                     "Try a DARK blur of 1–2.")
    if border:
        parts.append("Points near the border: DARK moves its 3 × 3 stencil inside the map and blurs less "
                     "there; soft-argmax is pulled inward by the part of the blob the border cuts off "
                     "(see the worst cases in the tooltips).")
    return " ".join(parts)


def quantisation_rows(rows) -> list[dict]:
    """Table rows for :func:`lmkviz.labs.quantisation_example`."""
    return [{"convention": r.label, "rule": r.rule, "decoded (px)": f"({r.decoded[0]:.2f}, {r.decoded[1]:.2f})",
             "off by (px)": f"({r.error[0]:+.2f}, {r.error[1]:+.2f})", "distance (px)": round(r.distance, 2)}
            for r in rows]


def quantisation_text(point_hm, rows, half_cell) -> str:
    """The calculator's explanation with the current numbers (``half_cell``: (x, y) image px)."""
    (hx, hy), (arith, code, ours) = point_hm, rows
    return (
        f"In heatmap cells the point is at ({hx:.4f}, {hy:.4f}). **The blog's arithmetic** rounds to the nearest "
        f"integer and scales back: {arith.distance:.1f} px off. **Its code** does something else: the encoder "
        f"truncates (`int()`) and the decoder maps cell index j to j × stride, the cell's *corner*: "
        f"{code.distance:.1f} px off here, and half a cell up-left on average, a bias on every point. "
        f"**lmkviz** treats cell j as [j, j + 1) and decodes to its centre j + 0.5: {ours.distance:.1f} px off, "
        f"never more than half a cell ({half_cell[0]:.1f} × {half_cell[1]:.1f} px) per axis, and unbiased."
    )


# --------------------------------------------------------------------------- shareable view

SIGMA_RANGE = (0.5, 20.0)
NOISE_RANGE = (0.0, 0.3)
BLUR_RANGE = (0.0, 3.0)
K_RANGE = (1, 25)
ZOOM_RANGE = (2, 10)


def share_view() -> None:
    """Register the lab's view with :mod:`ui.share` (call before the widgets): dataset, split,
    sample, landmark subset, inspected landmark, encoding, input and heatmap size, σ, and the
    decoding controls (noise, blur, k, zoom, border, sweeps shown). The widgets' keys depend on the dataset, split
    and scheme, read from the session, else from the link."""
    import streamlit as st

    from lmkviz.data import scheme_for
    from ui import share
    from ui.cached import HEATMAP_SIZES
    from ui.common import dataset_choices, open_split_cached, subset_options

    datasets = {d["key"]: d for d in dataset_choices()}
    ds = st.session_state.get("enc_dataset", st.query_params.get("ds"))
    ds = ds if ds in datasets else next(iter(datasets))
    splits = [s for s, n in datasets[ds]["splits"].items() if n > 0] or ["val"]
    split = st.session_state.get(f"enc_split:{ds}", st.query_params.get("split"))
    split = split if split in splits else ("val" if "val" in splits else splits[0])
    params = {"ds": "enc_dataset", "split": f"enc_split:{ds}", "sample": f"enc_sample:{ds}:{split}",
              "enc": "enc_encoding", "input": "enc_input", "hm": "enc_hm", "sigma": "enc_sigma",
              "noise": "enc_noise", "blur": "enc_blur", "k": "enc_k", "zoom": "enc_radius", "border": "enc_border",
              "sweeps": "enc_sweeps"}
    parse = {"border": share.parse_bool, "sweeps": share.parse_bool, "sample": int, "input": int, "hm": int, "sigma": share.within(*SIGMA_RANGE, float),
             "noise": share.within(*NOISE_RANGE, float), "blur": share.within(*BLUR_RANGE, float),
             "k": share.within(*K_RANGE, int), "zoom": share.within(*ZOOM_RANGE, int)}
    choices = {"ds": list(datasets), "split": splits, "enc": ENCODING_ORDER, "input": INPUT_SIZES,
               "hm": HEATMAP_SIZES}
    try:
        reader = open_split_cached(ds, split)
    except ValueError:
        reader = None
    if reader is not None and len(reader):
        scheme = scheme_for(reader.num_points)
        params.update({"points": f"enc_subset_{scheme.name}", "lm": f"enc_inspect:{scheme.name}"})
        parse.update({"sample": share.within(0, len(reader) - 1, int), "lm": int})
        choices.update({"points": [s for s in subset_options(scheme) if s != "custom"], "lm": range(scheme.num_points)})
    share.restore(params, parse=parse, choices=choices)

WIDGET_DEFAULTS = {"enc_input": 256, "enc_hm": 64, "enc_sigma": 2.0, "enc_noise": 0.0, "enc_blur": 0.0, "enc_k": 9,
                   "enc_radius": 4}
"""The lab's own widgets' first values (given through session state so a link can set them)."""
