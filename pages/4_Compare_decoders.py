"""Compare decoders: every decoder on the same trained heatmaps, over a dataset and image by image."""

import ui  # noqa: F401  (first: sets the OpenMP wait policy before torch loads)

import streamlit as st

from lmkviz.data import scheme_for
from lmkviz.evaluation import domain_note, landmark_caption, landmark_groups, runs_curves, runs_groups
from lmkviz.viz import compare as vcmp
from lmkviz.viz.images import add_points, heatmap_overlay
from lmkviz.viz.style import DECODER_COLOURS, DECODER_SYMBOLS, group_of
from ui import compare as lab
from ui import imported as imp
from ui import share
from ui.common import (
    figure_config,
    checkpoint_caption,
    checkpoint_files,
    checkpoint_label,
    dataset_choices,
    dataset_label,
    ensure_choice,
    file_mtime,
    landmark_label,
    open_split_or_stop,
    page_link,
    sample_at_size,
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
by_path = {f["path"]: f for f in files}
share.restore(lab.SHARED, parse=lab.SHARED_PARSE,
              choices={"model": imp.SOURCES, "ckpt": by_path, "lmkview": lab.LANDMARK_VIEWS})
lab.view_defaults()
if not files and st.session_state.get("cmp_model") != "imported":
    st.info("No checkpoint to compare yet. The shipped model (`checkpoints/default.pt`) is not installed, and no "
            "training run has saved one. Train one on the **Train** page: the *Quick CPU demo* preset takes "
            "about two minutes, and its `best.pt` appears here.", icon=":material/info:")
    page_link("pages/3_Train.py", label="Go to Train", icon=":material/model_training:")
    imp.source_picker("cmp")  # or bring a model of your own
    st.stop()

with st.sidebar:
    st.header("Model and data")
    if imp.source_picker("cmp") == "imported":
        checkpoint = imp.imported_model("cmp")
        if checkpoint is None:
            st.info("Upload your ONNX or TorchScript heatmap model in the sidebar (with its sidecar, or fill in "
                    "its settings): every decoder then reads its heatmaps.", icon=":material/upload_file:")
            share.publish()
            share.copy_link(st.sidebar)
            st.stop()
    else:
        ensure_choice("cmp_checkpoint", by_path)
        checkpoint = st.selectbox("Checkpoint", list(by_path), key="cmp_checkpoint",
                                  format_func=lambda p: checkpoint_label(by_path[p]),
                                  help="The shipped models (default.pt, and fast-cpu.pt: small and quick) and "
                                       "every run's best.pt (best validation epoch) and last.pt (latest epoch).")
    version = file_mtime(checkpoint)
    info = imp.model_info(checkpoint, version)
    if isinstance(info, str):
        st.error(info)
        st.stop()
    st.caption(checkpoint_caption(info))
    matching = [d for d in dataset_choices() if d["points"] == info.num_points]
    if not matching:
        st.error(f"No dataset here has {info.num_points} points per face, as this checkpoint's "
                 f"{info.scheme} landmarks need. Add one on the Dataset browser page.")
        st.stop()
    datasets = {d["key"]: d for d in matching}
    ensure_choice("cmp_dataset", datasets)
    dataset = datasets[st.selectbox("Dataset", list(datasets), key="cmp_dataset",
                                    format_func=lambda k: dataset_label(datasets[k]),
                                    help=f"Datasets with {info.num_points} points per face, as the checkpoint.")]
    splits = [s for s, n in dataset["splits"].items() if n > 0]
    ensure_choice("cmp_split", splits, "test" if "test" in splits else splits[-1])
    split = st.selectbox("Split", splits, key="cmp_split",
                         format_func=lambda s: f"{s} ({dataset['splits'][s]:,} faces)",
                         help="Training images flatter a model: compare on val or test.")
    total = dataset["splits"][split]
    lab.keep_between("cmp_n", 1, total, 100)
    n = int(st.number_input("Images to evaluate", min_value=1, max_value=total, step=50, key="cmp_n",
                            help="The first N images of the split. Results are kept, so going back is instant."))
    flip = st.toggle("Flip test", key="cmp_flip",
                     help="Also run every image mirrored and average the two sets of heatmaps (the mirrored maps "
                          "flipped back, left and right landmarks swapped): a little more accurate, twice the time. "
                          "The README's headline numbers use it.")

# ----------------------------------------------------------------------------- evaluation
try:
    evaluation = lab.evaluation_cached(checkpoint, version, dataset["key"], split, n, flip)
except ValueError as err:  # wrong point count, unreadable split, a flip test without left/right partners...
    st.error(str(err))
    st.stop()
scheme = scheme_for(dataset["points"])
indices = [int(i) for i in evaluation.indices]
names = [scheme.names[i] for i in indices]
decoders = list(evaluation.decoders)  # those of the checkpoint's codec
groups = landmark_groups(scheme, indices)

st.header(f"1 · Every decoder on {evaluation.n} {dataset['name']} / {split} images"
          + (", flip test" if evaluation.flip_test else ""))
note = domain_note(evaluation)
if note:
    st.warning(note, icon=":material/swap_horiz:")
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
    st.markdown(lab.summary_text(evaluation))
with right:
    st.markdown("**Cumulative error distribution**")
    st.plotly_chart(vcmp.ced_figure(evaluation.nme), key="cmp_ced", config=figure_config("compare-decoders-error-curves"))
    st.caption("For every error level x: the share of images whose NME is at most x. Higher and further left "
               "is better; the area left of the dashed line is the AUC@10.")


@st.fragment
def landmark_errors():
    """The per-landmark chart, drawn only while its expander is open (opening it reruns only this)."""
    box = st.expander("Error of each landmark", key="cmp_landmarks_open", on_change="rerun",
                      icon=":material/bar_chart:")
    with box:
        if box.open:
            st.plotly_chart(vcmp.per_landmark_figure(evaluation.per_landmark(), indices, names, groups=groups),
                            key="cmp_per_landmark", config=figure_config("compare-decoders-error-per-landmark"))
            st.caption("Mean error per landmark (% of the inter-ocular distance), grouped by face part. "
                       + landmark_caption(evaluation, evaluation.best_decoder(), scheme))
    share.publish()  # open or closed: the address follows


landmark_errors()

# ----------------------------------------------------------------------------- sample browser
st.header("2 · Sample browser")
reader = open_split_or_stop(dataset["key"], split)
positions = lab.split_positions(checkpoint, version, dataset["key"], split, n, flip)


@st.fragment
def sample_browser():
    c = st.columns([1.2, 0.9, 2.9], vertical_alignment="bottom")
    ensure_choice("cmp_sort", decoders, lab.default_decoder(evaluation, info.encoding))
    sort_by = c[0].selectbox("Sort images by the error of", decoders, format_func=lab.decoder_label, key="cmp_sort")
    lab.keep_between("cmp_rank", 1, evaluation.n, 1)
    rank = int(c[1].number_input(f"Rank (1 = worst of {evaluation.n})", min_value=1, max_value=evaluation.n,
                                 step=1, key="cmp_rank"))
    lab.keep_valid("cmp_shown", decoders, default=decoders)
    picked = c[2].pills("Show decoders", decoders, selection_mode="multi", format_func=lab.decoder_label,
                        key="cmp_shown") or []
    shown = [m for m in decoders if m in picked]
    row = evaluation.row_at_rank(sort_by, rank)
    name = evaluation.names[row]
    index = positions[row] if positions[row] >= 0 else row
    image, _, _ = sample_or_stop(dataset["key"], split, index)
    st.markdown(lab.sample_title(name, index, evaluation.image_nme(row)))
    heatmaps_shown = lab.output_view_available(evaluation)
    left, right = st.columns([1, 1.25], gap="large")
    with left:
        preds = {m: evaluation.pred[m][row] for m in shown}
        st.plotly_chart(vcmp.sample_figure(image, evaluation.target[row], preds, indices, names, height=480),
                        key="cmp_sample", config=figure_config("compare-decoders-sample-points", interactive=True))
        st.caption("Yellow: the annotation. Each decoder has its colour and symbol, ringed in white; pick fewer "
                   "above to see them apart. White lines join the annotation to the first decoder shown.")
    if not heatmaps_shown:
        right.info(f"This checkpoint's network outputs {evaluation.output_kind} vectors, not heatmaps: the heatmap "
                   "views of the sample browser do not apply to it.", icon=":material/info:")
        share.publish()
        return

    view = evaluation.sample_view(row)  # the heatmaps kept by the evaluation: no second network run
    worst = evaluation.worst_landmark(row, sort_by)
    with right:
        one_landmark(view, name, index, worst, shown)
    heatmap_grid(view, name, worst, sort_by)
    share.publish()


@st.fragment
def one_landmark(view, name, index, worst, shown):
    """One landmark's heatmap, cell by cell or over the image (its widgets rerun only this)."""
    st.markdown("**One landmark, cell by cell**")
    c = st.columns([2, 1, 1])
    lab.follow_sample("cmp_channel", name, worst, range(len(indices)))
    channel = c[0].selectbox("Landmark", range(len(indices)), key="cmp_channel",
                             format_func=lambda j: landmark_label(scheme, indices[j]) + (
                                 "  (largest error)" if j == worst else ""))
    opacity = c[1].slider("Heatmap opacity", 0.0, 1.0, step=0.05, key="cmp_opacity")
    radius = c[2].slider("Zoom (cells around the point)", 2, 10, key="cmp_radius")
    cells, over = st.tabs(list(lab.LANDMARK_VIEWS), key="cmp_landmark_view", on_change="rerun")
    if cells.open:
        with cells:
            if view.annotated(channel):
                estimates = {m: view.pred_hm[m][channel].tolist() for m in shown}
                zoom = vcmp.cell_zoom_figure(view.maps[channel], view.target_hm[channel].tolist(), estimates,
                                             view.stride, radius=radius, height=460)
                zoom.update_layout(legend=dict(y=-0.2), margin=dict(b=20))
                st.plotly_chart(zoom, key="cmp_zoom",
                                config=figure_config("compare-decoders-pixel-zoom", interactive=True))
                st.caption(f"The cells around the annotated point with their values (two decimals in every cell), "
                           f"and where each decoder reads the point: errors in network-input pixels (one cell = "
                           f"{view.stride:g} px). The same view as the Encoding lab, on a heatmap the network "
                           "really produced.")
            else:
                st.info("This landmark is not annotated in this image.")
    if over.open:
        with over:
            size = view.input_size[1]
            network_input, _, _ = sample_at_size(dataset["key"], split, index, size)  # as the network saw it
            fig = heatmap_overlay(network_input, view.maps[channel], opacity=opacity, height=460)
            add_points(fig, view.target[channel][None], name="target", size=12)
            for m in shown:
                add_points(fig, view.pred[m][channel][None], name=lab.decoder_label(m),
                           colour=DECODER_COLOURS.get(m, "#333"), symbol=DECODER_SYMBOLS.get(m, "circle"), size=12,
                           outline="white", outline_width=1.5)
            st.plotly_chart(fig, key="cmp_overlay",
                            config=figure_config("compare-decoders-heatmap-overlay", interactive=True))
            st.caption(f"The heatmap of {landmark_label(scheme, indices[channel])} over the {size}×{size} network "
                       "input.")
    share.publish()


@st.fragment
def heatmap_grid(view, name, worst, sort_by):
    """Every landmark's heatmap of the sample, drawn only while its expander is open."""
    box = st.expander(f"Heatmaps of all {len(indices)} landmarks", key="cmp_grid_open", on_change="rerun",
                      icon=":material/grid_view:")
    with box:
        if box.open:
            parts = ["all", *groups]
            start = group_of(scheme, indices[worst])  # the part of the face with this image's largest error
            lab.follow_sample("cmp_group", name, start if start in parts else "all", parts)
            group = st.segmented_control("Heatmaps of", parts, key="cmp_group",
                                         help="One part of the face with larger panels (at first the part with "
                                              "this image's largest error), or all landmarks.") or "all"
            st.plotly_chart(vcmp.heatmap_panels(view.maps, indices, None if group == "all" else groups[group],
                                                scale_title="sigmoid of the logit" if info.encoding == "binary"
                                                else "heatmap value"),
                            key="cmp_grid", config=figure_config("compare-decoders-heatmap-per-landmark"))
            h, w = view.heatmap_size
            st.caption(f"The model's heatmaps for this image ({w}×{h} cells), numbered by landmark, on one "
                       f"colour scale for all {len(indices)}. The largest {lab.decoder_label(sort_by)} error is at "
                       f"landmark {indices[worst]} ({start}).")
    share.publish()  # open or closed: the address follows


sample_browser()

# ----------------------------------------------------------------------------- several checkpoints
st.header("3 · Checkpoints side by side")
st.markdown(f"Several checkpoints on the same {evaluation.n} {dataset['name']} / {split} images"
            + (" (flip test)" if evaluation.flip_test else "") + ": their error curves over each other, and one "
            "row each. Every evaluation is kept, so adding a checkpoint back is instant.")


@st.fragment
def checkpoints_side_by_side():
    """The checkpoints table and curves: their two widgets rerun only this section."""
    candidates = lab.comparable_checkpoints(files, info.num_points)
    if imp.is_imported(checkpoint):
        candidates[checkpoint] = imp.model_label(checkpoint)
    c = st.columns([3, 1.2], vertical_alignment="bottom")
    ensure_choice("cmp_runs_decoder", [lab.BEST_OF_EACH, *decoders])
    lab.keep_valid("cmp_runs", candidates, default=[checkpoint])
    lab.include_current("cmp_runs", checkpoint)
    chosen = c[0].multiselect("Checkpoints", list(candidates), format_func=candidates.get, key="cmp_runs",
                              help="The shipped models and every run's best.pt and last.pt with the same landmarks.")
    decoder = c[1].selectbox("Decoder", [lab.BEST_OF_EACH, *decoders], key="cmp_runs_decoder",
                             format_func=lambda m: m if m == lab.BEST_OF_EACH else lab.decoder_label(m),
                             help="Score every checkpoint with this decoder, or each with its best one.")
    if chosen:
        runs, problems = lab.runs_evaluations(chosen, candidates, dataset["key"], split, n, flip, checkpoint, evaluation)
        for problem in problems:
            st.error(problem)
        pick = None if decoder == lab.BEST_OF_EACH else decoder
        if runs:
            st.dataframe(lab.runs_rows(runs, pick), hide_index=True, width="stretch", column_config={
                "NME %": st.column_config.NumberColumn(format="%.2f"),
                "FR@10 %": st.column_config.NumberColumn(format="%.1f"),
                "AUC@10 %": st.column_config.NumberColumn(format="%.1f")})
            left, right = st.columns([1, 1], gap="large")
            with left:
                st.markdown("**Cumulative error distribution**")
                st.plotly_chart(vcmp.runs_ced_figure(runs_curves(runs, pick)), key="cmp_runs_ced",
                                config=figure_config("compare-checkpoints-error-curves"))
            with right:
                st.markdown("**Error by part of the face**")
                st.plotly_chart(vcmp.runs_group_figure(runs_groups(runs, scheme, pick)), key="cmp_runs_groups",
                                config=figure_config("compare-checkpoints-error-per-group"))
    else:
        st.caption("Pick one or more checkpoints.")
    share.publish()


checkpoints_side_by_side()

share.publish()
share.copy_link(st.sidebar)
