"""Encoding lab: how points become heatmaps, how decoders read them back, and what it costs."""

import ui  # noqa: F401  (first: sets the OpenMP wait policy before torch loads)

import streamlit as st

from lmkviz import labs
from lmkviz.data import default_subset, scheme_for
from lmkviz.decoding import DECODER_LABELS
from lmkviz.labs import LAB_ENCODING_LABELS
from lmkviz.viz import encoding as venc
from lmkviz.viz.images import add_points, heatmap_grid_image, heatmap_overlay, pooled_note
from ui import cached
from ui import encoding_lab as lab
from ui import share
from ui.common import (
    figure_config,
    bump,
    chunks,
    dataset_picker,
    landmark_label,
    open_split_or_stop,
    sample_at_size,
    sample_or_stop,
    sample_picker,
    setup_page,
    split_picker,
    subset_picker,
)

setup_page("Encoding lab", ":material/science:")
lab.share_view()  # a shared link sets the widgets below
for _key, _value in lab.WIDGET_DEFAULTS.items():
    st.session_state.setdefault(_key, _value)
st.markdown(lab.INTRO)

# ----------------------------------------------------------------------------- controls
with st.sidebar:
    st.header("Sample")
    dataset = dataset_picker(key="enc_dataset")
    split = split_picker(dataset, key=f"enc_split:{dataset['key']}", default="val")
reader = open_split_or_stop(dataset["key"], split)
scheme = scheme_for(reader.num_points)
with st.sidebar:
    index = sample_picker(reader, key=f"enc_sample:{dataset['key']}:{split}", default=lab.DEFAULT_SAMPLE)
    indices = subset_picker(scheme, key="enc_subset", default=default_subset(scheme))
    if indices is None:
        st.stop()
    inspect = st.selectbox("Landmark to inspect", indices, format_func=lambda i: landmark_label(scheme, i),
                           key=f"enc_inspect:{scheme.name}")
sample_or_stop(dataset["key"], split, index)


# ----------------------------------------------------------------------------- 1 encode


@st.fragment
def overlay_block(image, heatmap, points, indices, inspect, label, placement):
    opacity = st.slider("Heatmap opacity", 0.0, 1.0, 0.7, 0.05, key="enc_opacity")
    fig = heatmap_overlay(image, heatmap, opacity=opacity, height=400, zmax=1.0, placement=placement)
    add_points(fig, points[list(indices)], name="landmarks", index=list(indices), size=7,
               labels=[scheme.names[i] for i in indices], show_legend=False)
    st.plotly_chart(fig, key="enc_overlay", config=figure_config("encoding-lab-heatmap-overlay", interactive=True))
    st.caption(f"Heatmap of {label} over the {image.shape[1]} px input: each coloured square is one cell. "
               "Yellow dots: the true points.")


@st.fragment
def encode_decode_block(dataset_key, split, index, indices, inspect):
    """Sections 1 and 2 with their encoding controls: a step of these reruns only this block."""
    st.header("1 · Encode: points → heatmaps")
    with st.container(border=True):
        encoding = st.radio("Encoding", lab.ENCODING_ORDER, format_func=LAB_ENCODING_LABELS.get, key="enc_encoding",
                            captions=[lab.ENCODING_CAPTIONS[e] for e in lab.ENCODING_ORDER], horizontal=True)
        c = st.columns([1, 1, 1, 0.8], gap="medium", vertical_alignment="bottom")
        input_size = c[0].select_slider("Input size (px)", lab.INPUT_SIZES, key="enc_input")
        heatmap_size = c[1].select_slider("Heatmap size (cells)", cached.HEATMAP_SIZES, key="enc_hm",
                                          disabled=encoding == "simcc",
                                          help="SimCC has no heatmap: 2 bins per input pixel along each axis."
                                          if encoding == "simcc" else None)
        sigma = c[2].slider(lab.sigma_label(encoding), *lab.SIGMA_RANGE, step=0.25, key="enc_sigma",
                            disabled=encoding == "binary", help=lab.SIGMA_HELP.get(encoding, lab.DEFAULT_SIGMA_HELP))
        link_box = c[3].container()  # "Copy link to this view", filled once the view is known

    image, points, name = sample_at_size(dataset_key, split, index, input_size)
    if not labs.visible(points, inspect):
        st.error(f"Landmark {landmark_label(scheme, inspect)} is not visible in this sample; inspect another one.")
        share.publish()
        share.copy_link(link_box)
        return
    draw_seed = st.session_state.get("enc_draw_seed", 0)
    encoded = labs.encode_sample(points, indices, input_size, heatmap_size, encoding, sigma,
                                 eye_corners=scheme.eye_corners, seed=draw_seed)
    maps, grid, iod = encoded.maps, encoded.grid, encoded.interocular  # maps: (k, h, w); None for SimCC
    channel = list(indices).index(inspect)

    c = st.columns(4)
    c[0].metric(lab.stride_label(encoding), f"{lab.short_number(grid.stride[0])} px",
                help="Input size / heatmap size: one heatmap cell (or SimCC bin) covers stride × stride image "
                     f"pixels ({grid.stride[0]:g} px).")
    c[1].metric("σ in image px", "—" if encoded.sigma_px is None else f"{encoded.sigma_px:.1f} px")
    c[2].metric(lab.half_cell_label(encoding), f"{grid.half_cell[0]:.2f} px",
                help="The worst error of a perfect argmax along one axis.")
    c[3].metric("Inter-ocular distance", f"{iod:.0f} px" if iod else "—",
                help="Distance between the outer eye corners in the input image; errors are also given in % of it.")

    st.markdown(lab.ENCODING_TEXT[encoding])
    left, right = st.columns([1, 1.25], gap="large")
    if encoding == "simcc":
        x_labels, y_labels = encoded.vectors
        with left:
            st.plotly_chart(venc.simcc_figure(image, x_labels[channel], y_labels[channel], points[inspect],
                                              grid.stride[0], name=landmark_label(scheme, inspect)),
                            key="enc_simcc", config=figure_config("encoding-lab-simcc-label-vectors", interactive=True))
            st.caption(f"The two SimCC targets of {landmark_label(scheme, inspect)}: its x label under the image, "
                       "its y label to the right, on the image's pixel axes.")
        with right:
            st.plotly_chart(venc.simcc_matrix_figure(x_labels, y_labels, [str(i) for i in indices]),
                            key="enc_simcc_matrix", config=figure_config("encoding-lab-simcc-labels-per-landmark"))
            st.caption(f"All {len(indices)} selected landmarks, one row each ({grid.heatmap_wh[0]} bins per axis, "
                       "colour scale 0 → 1): the two classification targets a SimCC head learns.")
    else:
        with left:
            overlay_block(image, maps[channel], points, indices, inspect, landmark_label(scheme, inspect),
                          labs.map_placement(grid))
        with right:
            cols, cell_px = lab.grid_layout(len(indices))
            titles = [str(i) for i in indices]
            st.image(heatmap_grid_image(maps, titles=titles, columns=cols, panel_px=cell_px), output_format="PNG")
            st.caption(lab.grid_caption(titles, heatmap_size, pooled_note(maps.shape)))
        if encoding == "binary":
            st.button("New random draw", icon=":material/casino:", key="enc_redraw", on_click=bump,
                      args=("enc_draw_seed",))

    st.header("2 · Decode: heatmaps → points")
    decode_block(encoded, channel, encoded.points_hm[inspect].tolist(), grid, iod, input_size, heatmap_size, sigma,
                 encoding)
    share.publish()  # this block reruns alone: keep the address and the link up to date
    share.copy_link(link_box)


# ----------------------------------------------------------------------------- 2 decode


def sweep_block(input_size, heatmap_size, sigma, encoding, noise, blur, margin, k):
    """The two error sweeps (computed on request: they take seconds on a first visit)."""
    with st.spinner(lab.sweep_spinner(encoding)):
        if encoding == "simcc":
            ratios = cached.sweep_ratios(input_size, sigma, noise, blur, margin)
        else:
            sizes = cached.sweep_sizes(input_size, sigma, encoding, noise, blur, margin, k)
        sigmas = None if encoding == "binary" else cached.sweep_sigmas(input_size, heatmap_size, encoding, noise,
                                                                       blur, margin, k)
    c1, c2 = st.columns(2, gap="large")
    if encoding == "simcc":
        c1.markdown("**Error against SimCC's ratio** (bins per input pixel, σ fixed in bins)")
        c1.plotly_chart(venc.sweep_figure(ratios, labs.SIMCC_RATIO, "bins per input pixel", log_x=True),
                        key="enc_sweep_ratio", config=figure_config("encoding-lab-error-vs-simcc-ratio", interactive=True))
    else:
        floor = labs.argmax_floor(input_size, sizes["x"])
        c1.markdown("**Error against heatmap size** (σ fixed in cells)")
        c1.plotly_chart(venc.sweep_figure(sizes, heatmap_size, "heatmap size (cells)", log_x=True, floor=floor,
                                          floor_label="perfect argmax (0.38 cell)"), key="enc_sweep_size",
                        config=figure_config("encoding-lab-error-vs-heatmap-size", interactive=True))
    c2.markdown("**Error against σ** (heatmap size fixed)")
    if sigmas is None:
        c2.info("σ plays no part in the binary encoding: every map is a single 1.")
    else:
        c2.plotly_chart(venc.sweep_figure(sigmas, sigma, "σ (heatmap cells)", log_x=True), key="enc_sweep_sigma",
                        config=figure_config("encoding-lab-error-vs-sigma", interactive=True))
    st.caption(lab.SWEEP_CAPTION)


@st.fragment
def decode_block(encoded, channel, truth_hm, grid, iod, input_size, heatmap_size, sigma, encoding):
    st.markdown(lab.SIMCC_DECODE_TEXT if encoding == "simcc" else lab.DECODE_TEXT)
    c = st.columns(4)
    noise = c[0].slider("Noise on the heatmap", *lab.NOISE_RANGE, step=0.01, key="enc_noise",
                        help="Standard deviation of Gaussian noise added to every cell (the peak is 1): "
                             "a stand-in for an imperfect network.")
    blur = c[1].slider("DARK blur (modulation σ)", *lab.BLUR_RANGE, step=0.25, key="enc_blur",
                       help="DARK first smooths the map with a Gaussian of this σ (cells), then takes "
                            "derivatives of its log. 0 = no smoothing.")
    k = c[2].slider("top-k: k cells", *lab.K_RANGE, key="enc_k", disabled=encoding == "simcc",
                    help="The k highest cells, weighted by value: lmkviz takes them in a window around the highest "
                         "peak (5 × 5 for k = 9), so a second peak cannot pull the estimate away; H3R takes them "
                         "anywhere on the map and weighs logits by their softmax.")
    radius = c[3].slider("Zoom (cells around the point)", *lab.ZOOM_RANGE, key="enc_radius")
    left, right = st.columns([1.4, 1], gap="large")
    if encoding == "simcc":
        noisy_x, noisy_y, found = labs.decode_vectors_noisy(encoded.vectors[0][channel], encoded.vectors[1][channel],
                                                            noise, blur)
        with left:
            st.plotly_chart(venc.simcc_zoom_figure(noisy_x, noisy_y, truth_hm, found, grid.stride[0],
                                                   radius=labs.simcc_zoom_bins(radius)),
                            key="enc_simcc_zoom", config=figure_config("encoding-lab-simcc-decoders", interactive=True))
    else:
        noisy, found = labs.decode_noisy(encoded.maps[channel], noise, blur, k)
        with left:
            st.plotly_chart(venc.zoom_figure(noisy, truth_hm, found, grid.stride[0], radius=radius), key="enc_zoom",
                            config=figure_config("encoding-lab-decoders-pixel-zoom", interactive=True))
    estimates = labs.decoder_estimates(found, truth_hm, grid, iod)
    with right:
        truth = grid.to_image(truth_hm)
        st.markdown(f"True point: **({truth[0]:.2f}, {truth[1]:.2f})** px")
        two = st.column_config.NumberColumn(format="%.2f")
        st.dataframe(lab.estimate_rows(estimates), hide_index=True, width="stretch",
                     column_config={"error px": two, "% IOD": two})
        st.caption(lab.ZOOM_CAPTION)

    st.subheader("Round trip over many points")
    border = st.toggle("Let points touch the border", key="enc_border",
                       help="Random points anywhere in the map instead of at least 2 cells (or 3σ) inside.")
    margin = 0.0 if border else None
    result = cached.roundtrip(input_size, heatmap_size, sigma, encoding, noise, blur, margin, k)
    left, right = st.columns([1, 1.2], gap="large")
    with left:
        for row in chunks(result.mean, 2):
            for col, m in zip(st.columns(2), row):
                col.metric(DECODER_LABELS[m], f"{result.mean[m]:.2f} px", lab.percent_iod(labs.percent_of(result.mean[m], iod)),
                           delta_color="off", delta_arrow="off",
                           help=f"mean over {result.n} random sub-pixel points; worst {result.max[m]:.2f} px")
        st.caption(lab.roundtrip_caption(result, encoding, noise, blur, border))
    with right:
        st.markdown("**Every encoding, same settings** (faded: not selected)")
        others = {e: cached.roundtrip(input_size, heatmap_size, sigma, e, noise, blur, margin, k).mean
                  for e in lab.ENCODING_ORDER}
        st.plotly_chart(venc.encodings_figure(others, encoding), key="enc_encodings", config=figure_config("encoding-lab-encodings-side-by-side"))
    if st.toggle("Show the error sweeps", key="enc_sweeps", help=lab.SWEEP_TOGGLE_HELP):
        sweep_block(input_size, heatmap_size, sigma, encoding, noise, blur, margin, k)
    share.publish()  # this block reruns alone: keep the address up to date


encode_decode_block(dataset["key"], split, index, indices, inspect)

# ----------------------------------------------------------------------------- 3 the blog's rounding


@st.fragment
def rounding_block():
    st.markdown(lab.QUANTISATION_TEXT)
    c = st.columns(6)
    img_w = c[0].number_input("Image width", 8, 20000, 2500, key="enc_q_W")
    img_h = c[1].number_input("Image height", 8, 20000, 2500, key="enc_q_H")
    hm_w = c[2].number_input("Heatmap width", 2, 1024, 64, key="enc_q_w")
    hm_h = c[3].number_input("Heatmap height", 2, 1024, 64, key="enc_q_h")
    grid = labs.Grid((float(img_w), float(img_h)), (hm_w, hm_h))
    x_max, y_max = grid.inside_max
    x = c[4].number_input("Point x", 0.0, x_max, min(1822.0, x_max), key="enc_q_x")
    y = c[5].number_input("Point y", 0.0, y_max, min(412.0, y_max), key="enc_q_y")
    point_hm, rows = labs.quantisation_example((img_w, img_h), (hm_w, hm_h), (x, y))
    st.dataframe(lab.quantisation_rows(rows), hide_index=True, width="stretch")
    st.markdown(lab.quantisation_text(point_hm, rows, grid.half_cell))

    st.subheader("Randomized rounding: unbiased on average")
    st.markdown(lab.ROUNDING_TEXT)
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    draws = c1.select_slider("Number of random draws", lab.DRAW_COUNTS, value=100, key="enc_draws")
    if c2.button("Draw again", icon=":material/casino:", key="enc_rr_again"):
        bump("enc_rr_seed")
    seed = st.session_state.get("enc_rr_seed", 0)
    cells = labs.rounding_probabilities(point_hm, (hm_w, hm_h))
    found = cached.rounding_draws(tuple(point_hm), (hm_w, hm_h), max(lab.DRAW_COUNTS), seed)[:draws]
    summary = labs.rounding_summary(found, point_hm, grid)
    left, right = st.columns(2, gap="large")
    left.plotly_chart(venc.quantisation_figure(point_hm, rows, grid.stride, cells=cells, counts=summary.counts,
                                               mean=summary.mean_hm[-1]), key="enc_q_fig", config=figure_config("encoding-lab-quantisation", interactive=True))
    right.plotly_chart(venc.running_mean_figure(summary.error_px, summary.spread_px), key="enc_rr_fig", config=figure_config("encoding-lab-randomized-rounding-mean", interactive=True))
    right.metric(f"Mean of {draws} draws, back in image px", f"({summary.mean_px[0]:.1f}, {summary.mean_px[1]:.1f})",
                 f"off by {summary.off_px:.2f} px", delta_color="off", delta_arrow="off")


st.header("3 · The blog's rounding problem")
rounding_block()
