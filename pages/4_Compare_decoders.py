"""Compare decoders: every decoder on the same trained heatmaps, over a dataset and image by image."""

import ui  # noqa: F401  (first: sets the OpenMP wait policy before torch loads)

import numpy as np
import streamlit as st

from lmkviz.data import scheme_for
from lmkviz.decoding import DECODER_LABELS, DECODERS
from lmkviz.viz import compare as vcmp
from lmkviz.viz.encoding import zoom_figure
from lmkviz.viz.images import add_points, heatmap_grid, heatmap_overlay
from lmkviz.viz.style import DECODER_COLOURS, DECODER_SYMBOLS
from ui import lab
from ui.common import (
    checkpoint_files,
    dataset_choices,
    dataset_label,
    landmark_label,
    open_split_or_stop,
    sample_or_stop,
    setup_page,
)

setup_page("Compare decoders", ":material/compare:")
st.markdown(
    "A trained network outputs heatmaps; the **decoder** turns them into points. Here the *same* heatmaps "
    "are read by every decoder: **argmax** (centre of the best cell), **quarter offset**, **top-k** "
    "(H3R), **DARK** and **soft-argmax** (integral regression). The tables and curves show what each gains over a dataset; the sample browser "
    "shows where each one lands on a real predicted heatmap.")

# ----------------------------------------------------------------------------- choices
files = checkpoint_files()
if not files:
    st.info("No checkpoint to compare yet. The shipped model (`checkpoints/default.pt`) is not installed, and no "
            "training run has saved one. Train one on the **Train** page: the *Quick CPU demo* preset takes "
            "about two minutes, and its `best.pt` appears here.", icon=":material/info:")
    lab.page_link("pages/3_Train.py", label="Go to Train", icon=":material/model_training:")
    st.stop()

by_path = {f["path"]: f for f in files}
with st.sidebar:
    st.header("Model and data")
    lab.ensure_choice("cmp_checkpoint", by_path)
    checkpoint = st.selectbox("Checkpoint", list(by_path), key="cmp_checkpoint",
                              format_func=lambda p: lab.checkpoint_label(by_path[p]),
                              help="The shipped model and every run's best.pt (best validation epoch) and "
                                   "last.pt (latest epoch).")
    version = lab.mtime(checkpoint)
    info = lab.checkpoint_summary(checkpoint, version)
    if "error" in info:
        st.error(info["error"])
        st.stop()
    st.caption(lab.checkpoint_caption(info))
    matching = [d for d in dataset_choices() if d["points"] == info["points"]]
    if not matching:
        st.error(f"No dataset here has {info['points']} points per face, as this checkpoint's "
                 f"{info['scheme']} landmarks need. Add one on the Dataset browser page.")
        st.stop()
    datasets = {d["key"]: d for d in matching}
    lab.ensure_choice("cmp_dataset", datasets)
    dataset = datasets[st.selectbox("Dataset", list(datasets), key="cmp_dataset",
                                    format_func=lambda k: dataset_label(datasets[k]),
                                    help=f"Datasets with {info['points']} points per face, as the checkpoint.")]
    splits = [s for s, n in dataset["splits"].items() if n > 0]
    lab.ensure_choice("cmp_split", splits, "test" if "test" in splits else splits[-1])
    split = st.selectbox("Split", splits, key="cmp_split",
                         format_func=lambda s: f"{s} ({dataset['splits'][s]:,} faces)",
                         help="Training images flatter a model: compare on val or test.")
    total = dataset["splits"][split]
    n = int(st.number_input("Images to evaluate", min_value=1, max_value=total, value=min(100, total), step=50,
                            key=f"cmp_n:{dataset['key']}:{split}",
                            help="The first N images of the split. Results are kept, so going back is instant."))

# ----------------------------------------------------------------------------- evaluation
try:
    evaluation = lab.evaluation_cached(checkpoint, version, dataset["key"], split, n)
except ValueError as err:  # wrong point count, unreadable split...
    st.error(str(err))
    st.stop()
scheme = scheme_for(dataset["points"])
indices = [int(i) for i in evaluation.indices]
names = [scheme.names[i] for i in indices]

st.header(f"1 · Every decoder on {evaluation.n} {dataset['name']} / {split} images")
left, right = st.columns([1.1, 1], gap="large")
with left:
    rows = lab.summary_rows(evaluation)
    st.dataframe(rows, hide_index=True, width="stretch", column_config={
        "NME %": st.column_config.NumberColumn(format="%.2f", help="Mean normalised error: point error / "
                                               "inter-ocular distance, averaged over points and images."),
        "FR@10 %": st.column_config.NumberColumn(format="%.1f", help="Failure rate: images with NME above 10 %."),
        "AUC@10 %": st.column_config.NumberColumn(format="%.1f", help="Area under the CED curve up to 10 %, "
                                                  "normalised: 100 = every image perfect."),
    })
    best = min(rows, key=lambda r: r["NME %"])
    st.markdown(lab.summary_text(rows, best, info))
with right:
    st.markdown("**Cumulative error distribution**")
    st.plotly_chart(vcmp.ced_figure(evaluation.nme), key="cmp_ced", config={"displayModeBar": False})
    st.caption("For every error level x: the share of images whose NME is at most x. Higher and further left "
               "is better; the area left of the dashed line is the AUC@10.")
st.markdown("**Error of each landmark**")
st.plotly_chart(vcmp.per_landmark_figure(evaluation.per_landmark(), indices, names), key="cmp_per_landmark",
                config={"displayModeBar": False})
st.caption("Mean error per landmark (% of the inter-ocular distance). Jaw points are usually the hardest: "
           "their position along the contour is ambiguous.")

# ----------------------------------------------------------------------------- sample browser
st.header("2 · Sample browser")
reader = open_split_or_stop(dataset["key"], split)
positions = lab.name_positions(dataset["key"], split)


@st.fragment
def sample_browser():
    c = st.columns([1.4, 1, 2.2], vertical_alignment="bottom")
    sort_by = c[0].selectbox("Sort images by the error of", list(DECODERS), index=list(DECODERS).index("dark"),
                             format_func=DECODER_LABELS.get, key="cmp_sort")
    order = lab.ranked(evaluation, sort_by)
    rank = int(c[1].number_input(f"Rank (1 = worst of {evaluation.n})", min_value=1, max_value=evaluation.n,
                                 value=1, step=1, key="cmp_rank"))
    shown = c[2].pills("Show decoders", list(DECODERS), default=list(DECODERS), selection_mode="multi",
                       format_func=DECODER_LABELS.get, key="cmp_shown")
    row = int(order[rank - 1])
    name = evaluation.names[row]
    index = positions.get(name, row)
    image, _, _ = sample_or_stop(dataset["key"], split, index)
    errors = {m: float(evaluation.nme[m][row]) * 100 for m in DECODERS}
    st.markdown(f"**{name}** (sample {index}) · NME " + " · ".join(
        f"{DECODER_LABELS[m]} **{e:.2f} %**" for m, e in errors.items()))

    output = lab.sample_heatmaps(checkpoint, version, dataset["key"], split, index)
    maps = output["maps"]
    left, right = st.columns([1, 1.25], gap="large")
    with left:
        preds = {m: evaluation.pred[m][row] for m in DECODERS if m in (shown or [])}
        st.plotly_chart(vcmp.sample_figure(image, evaluation.target[row], preds, indices, names, height=480),
                        key="cmp_sample")
        st.caption("Yellow: the annotation. Symbols: each decoder's point, in the photo's own pixels. "
                   "White lines join the annotation to the first decoder shown.")
    with right:
        cols, cell = lab.grid_shape(len(indices), width_px=600)
        st.plotly_chart(heatmap_grid(maps, titles=[str(i) for i in indices], columns=cols, cell_px=cell, zmax=None),
                        key="cmp_grid", config={"displayModeBar": False})
        h, w = maps.shape[1:]
        st.caption(f"The model's {len(indices)} heatmaps for this image ({w}×{h} cells, shared colour scale"
                   + (", sigmoid of the logits" if info["encoding"] == "binary" else "") + ").")

    st.subheader("One landmark, cell by cell")
    errors_k = np.linalg.norm(evaluation.pred[sort_by][row] - evaluation.target[row], axis=-1)
    worst = int(np.nanargmax(errors_k)) if np.isfinite(errors_k).any() else 0
    c = st.columns([2, 1, 1])
    channel = c[0].selectbox("Landmark", range(len(indices)), index=worst, key=f"cmp_channel:{name}",
                             format_func=lambda j: landmark_label(scheme, indices[j]) + (
                                 "  (largest error)" if j == worst else ""))
    opacity = c[1].slider("Heatmap opacity", 0.0, 1.0, 0.7, 0.05, key="cmp_opacity")
    radius = c[2].slider("Zoom (cells around the point)", 2, 10, 4, key="cmp_radius")
    size = output["input_size"]
    scale_in = np.array([size / image.shape[1], size / image.shape[0]])
    truth_in = evaluation.target[row][channel] * scale_in
    left, right = st.columns([1, 1.25], gap="large")
    with left:
        fig = heatmap_overlay(output["input"], maps[channel], opacity=opacity, height=460)
        add_points(fig, truth_in[None], name="target", size=10)
        for m in DECODERS:
            if m in (shown or []):
                add_points(fig, output["points"][m][channel][None], name=DECODER_LABELS[m],
                           colour=DECODER_COLOURS[m], symbol=DECODER_SYMBOLS[m], size=10)
        st.plotly_chart(fig, key="cmp_overlay")
        st.caption(f"The heatmap of {landmark_label(scheme, indices[channel])} over the {size}×{size} network "
                   "input.")
    with right:
        if np.isfinite(truth_in).all():
            stride = size / w
            truth_hm = (truth_in / stride).tolist()
            estimates = {m: (output["points"][m][channel] / stride).tolist() for m in DECODERS if m in (shown or [])}
            zoom = zoom_figure(maps[channel], truth_hm, estimates, stride, radius=radius, height=500)
            zoom.update_layout(legend=dict(y=-0.2), margin=dict(b=20))
            st.plotly_chart(zoom, key="cmp_zoom")
            st.caption(f"The cells around the annotated point with their values, and where each decoder reads "
                       f"the point: errors in network-input pixels (one cell = {stride:g} px). The same view "
                       "as the Encoding lab, on a heatmap the network really produced.")
        else:
            st.info("This landmark is not annotated in this image.")


sample_browser()
