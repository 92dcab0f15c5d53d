"""Lesson: the blog post's argument for heatmaps, replayed live in ten steps."""

import ui  # noqa: F401  (first: sets the OpenMP wait policy before torch loads)

import streamlit as st

from lmkviz import labs, lesson
from lmkviz.data import scheme_for
from lmkviz.decoding import DECODER_LABELS
from lmkviz.viz import encoding as venc
from lmkviz.viz import lesson as vles
from lmkviz.viz.images import add_points, heatmap_grid, heatmap_overlay
from lmkviz.viz.training import nme_figure
from ui import lesson as L
from ui import share
from ui.common import figure_config, landmark_label, setup_page

setup_page("Lesson", ":material/school:")
present = L.presenting()
step = L.current_step()
info = L.step_info(step)
L.share_step(info.slug)  # a shared link sets this step's widgets
SCHEME = scheme_for(68)

L.navigation(step)
tools = st.columns([3, 1.5, 1.7], vertical_alignment="center")
with tools[1]:
    L.presenter_toggle()
link_box = tools[2].container()  # "Copy link to this view", once the step's widgets are drawn

st.header(f"{step} · {info.title}")
st.markdown(info.text)


# ----------------------------------------------------------------------------- the steps


def step_regression():
    comparison = L.regression_comparison()
    if isinstance(comparison, str):
        st.error(comparison)
        return L.question(1)
    left, right = st.columns([1, 1], gap="large")
    with left:
        st.plotly_chart(L.sized(vles.regression_curves_figure(comparison.epochs, comparison.nme,
                                                              height=L.height(380))),
                        key="lesson_regression_curves", config=figure_config("lesson-regression-vs-heatmaps"))
        st.caption(L.regression_caption(comparison))
    with right:
        sample = st.segmented_control("Validation face", list(range(len(comparison.target))), default=0,
                                      required=True, key="lesson_regression_face", format_func=L.face_label)
        image, _ = L.face(sample)
        points = {k: comparison.points[k][sample] for k in comparison.KINDS}
        st.plotly_chart(L.sized(vles.regression_face_figure(image, comparison.target[sample], points,
                                                            height=L.height(420))),
                        key="lesson_regression_face_fig", config=figure_config("lesson-regression-face"))
        c = st.columns(2)
        for col, kind in zip(c, comparison.KINDS):
            col.metric(f"{L.APPROACH[kind]}: NME", f"{comparison.sample_nme[kind][sample]:.1f} %",
                       help="This face's mean point error in % of its inter-ocular distance.")
    return L.question(1, L.regression_answer(comparison), L.regression_why(comparison))


def step_heatmaps():
    image, points = L.face(3)
    encoded = labs.encode_sample(points, range(68), lesson.LESSON_INPUT, 32, "gaussian", 1.5)
    landmark = st.columns([1, 2])[0].selectbox("Landmark", range(68), index=36, key="lesson_landmark",
                                               format_func=lambda i: landmark_label(SCHEME, i))
    left, right = st.columns([1, 1.3], gap="large")
    with left:
        fig = heatmap_overlay(image, encoded.maps[landmark], opacity=0.8, height=L.height(430), zmax=1.0)
        add_points(fig, points, name="landmarks", size=5, show_legend=False)
        add_points(fig, points[landmark], name=SCHEME.names[landmark], index=[landmark], size=11,
                   colour="#FFFFFF", show_legend=False)
        st.plotly_chart(L.sized(fig), key="lesson_heatmap_overlay", config=figure_config("lesson-heatmap-of-one-landmark"))
        st.caption(f"The target heatmap of the {SCHEME.names[landmark]} (32 × 32 cells, σ = 1.5 cells) over the "
                   "128 px face.")
    with right:
        st.plotly_chart(heatmap_grid(encoded.maps, titles=[str(i) for i in range(68)], columns=12,
                                     cell_px=L.height(52)),
                        key="lesson_heatmap_grid", config=figure_config("lesson-all-68-heatmaps"))
        st.caption("All 68 target maps of this face, one per landmark: what the network learns to paint.")
    return L.question(2)


def step_sigma():
    sigma = st.select_slider("σ (heatmap cells)", L.SIGMAS, value=1.5, key="lesson_sigma")
    image, points = L.face(3)
    encoded = labs.encode_sample(points, [36], lesson.LESSON_INPUT, 32, "gaussian", float(sigma))
    left, right = st.columns([1.1, 2], gap="large")
    with left:
        st.plotly_chart(L.sized(venc.zoom_figure(encoded.maps[0], encoded.points_hm[36].tolist(), {},
                                                 encoded.grid.stride[0], radius=4, height=L.height(400), zmax=1.0)),
                        key="lesson_sigma_zoom", config=figure_config("lesson-sigma-target"))
        st.caption(f"The target of one eye corner at σ = {sigma:g}: each square is a cell with its value.")
    with right:
        st.plotly_chart(L.sized(vles.sigma_tradeoff_figure(L.sigma_tradeoff(), sigma, height=L.height(400))),
                        key="lesson_sigma_tradeoff", config=figure_config("lesson-sigma-tradeoff"))
        st.caption("Middle: the MSE a network scores by outputting zeros everywhere, against one target. Right: "
                   "mean error of argmax and DARK on 32 × 32 maps with noise of 5 % of the peak added "
                   "(128 px input, 256 random points).")
    return L.question(3, why=L.sigma_why())


def step_rounding():
    size = st.select_slider("Heatmap size (cells)", L.ROUNDING_SIZES, value=64, key="lesson_rounding_size")
    point_hm, rows = labs.quantisation_example(lesson.BLOG_IMAGE, (size, size), lesson.BLOG_POINT)
    grid = labs.Grid(tuple(float(v) for v in lesson.BLOG_IMAGE), (size, size))
    left, right = st.columns([1, 1.2], gap="large")
    with left:
        st.plotly_chart(L.sized(venc.quantisation_figure(point_hm, rows, grid.stride, height=L.height(440))),
                        key="lesson_rounding_fig", config=figure_config("lesson-blog-rounding"))
    with right:
        st.dataframe(L.rounding_rows(rows), hide_index=True, width="stretch")
        st.markdown(L.rounding_text(point_hm, rows, grid))
    return L.question(4)


def step_randomized():
    draws = st.select_slider("Number of random targets drawn", L.DRAWS, value=100,
                             key="lesson_draws")
    size = 64
    grid = labs.Grid(tuple(float(v) for v in lesson.BLOG_IMAGE), (size, size))
    point_hm, rows = labs.quantisation_example(lesson.BLOG_IMAGE, (size, size), lesson.BLOG_POINT)
    found = L.rounding_draws(tuple(point_hm), size, 3000)[:draws]
    summary = labs.rounding_summary(found, point_hm, grid)
    cells = labs.rounding_probabilities(point_hm, (size, size))
    left, right = st.columns(2, gap="large")
    left.plotly_chart(L.sized(venc.quantisation_figure(point_hm, [], grid.stride, cells=cells, counts=summary.counts,
                                                       mean=summary.mean_hm[-1], height=L.height(440))),
                      key="lesson_randomized_fig", config=figure_config("lesson-randomized-rounding-cells"))
    right.plotly_chart(L.sized(venc.running_mean_figure(summary.error_px, summary.spread_px, height=L.height(360))),
                       key="lesson_randomized_mean", config=figure_config("lesson-randomized-rounding-mean"))
    right.metric(f"Mean of {draws} random target(s), in image px",
                 f"({summary.mean_px[0]:.1f}, {summary.mean_px[1]:.1f})",
                 f"{summary.off_px:.2f} px from (1822, 412)", delta_color="off", delta_arrow="off")
    return L.question(5)


def step_topk():
    c = st.columns(2)
    k = c[0].slider("top-k: k cells", 1, 16, 1, key="lesson_k")
    noise = c[1].slider("Noise on the map", 0.0, 0.2, 0.0, 0.01, key="lesson_topk_noise")
    point_hm, _ = labs.quantisation_example(lesson.BLOG_IMAGE, (64, 64), lesson.BLOG_POINT)
    grid = labs.square_grid(lesson.BLOG_IMAGE[0], 64)
    heatmap, found = lesson.topk_demo(point_hm, 64, k, noise)
    left, right = st.columns([1.4, 1], gap="large")
    with left:
        st.plotly_chart(L.sized(venc.zoom_figure(heatmap, list(point_hm), found, grid.stride[0], radius=3,
                                                 height=L.height(460), zmax=1.0)),
                        key="lesson_topk_zoom", config=figure_config("lesson-topk-decoding"))
    with right:
        estimates = labs.decoder_estimates(found, point_hm, grid)
        for row in estimates:
            st.metric(DECODER_LABELS[row["decoder"]], f"{row['error_px']:.1f} px off",
                      help="Distance to the true point in the 2500 px image (one cell = 39 px).")
        st.caption("The blog's point (1822, 412) on a 64 × 64 map: the four cells around it hold the chances "
                   "randomized rounding gives them.")
    return L.question(6)


def step_architecture():
    layers = L.strides()
    st.plotly_chart(L.sized(vles.strides_figure(layers, height=L.height(470), connect=[L.UNET_LABEL])),
                    key="lesson_strides",
                    config=figure_config("lesson-hrnet-vs-unet-resolutions"))
    st.caption(L.strides_caption(layers))
    return L.question(7, L.architecture_answer(layers))


def model_or_stop() -> bool:
    if L.lesson_model() is None:
        st.warning(f"The shipped checkpoint `checkpoints/{lesson.LESSON_CHECKPOINT}.pt` is missing: this step needs it.")
        return False
    return True


def step_dark():
    dataset = lesson.lesson_dataset(L.dataset_names())
    if not model_or_stop():
        return L.question(8)
    c = st.columns(3)
    index = c[0].number_input(f"Face ({dataset} val)", 0, 49, 0, key="lesson_dark_face")
    landmark = c[1].selectbox("Landmark", range(68), index=36, key="lesson_dark_landmark",
                              format_func=lambda i: landmark_label(SCHEME, i))
    blur = c[2].slider("DARK blur (modulation σ, cells)", 0.0, 2.0, 0.0, 0.25, key="lesson_dark_blur")
    image, target, view = L.face_view(dataset, int(index), False)
    grid = labs.square_grid(lesson.LESSON_INPUT, view.maps.shape[-1])
    truth_hm = view.to_heatmap(target[landmark])
    _, found = labs.decode_noisy(view.maps[landmark], 0.0, blur)
    left, right = st.columns([1.3, 1], gap="large")
    with left:
        st.plotly_chart(L.sized(venc.zoom_figure(view.maps[landmark], truth_hm.tolist(), found, grid.stride[0],
                                                 radius=4, height=L.height(470))),
                        key="lesson_dark_zoom", config=figure_config("lesson-dark-on-a-predicted-heatmap"))
    with right:
        fig = heatmap_overlay(image, view.maps[landmark], opacity=0.7, height=L.height(260))
        add_points(fig, target[landmark], name="truth", size=9, show_legend=False)
        st.plotly_chart(fig, key="lesson_dark_face_fig", config=figure_config("lesson-dark-face"))
        estimates = labs.decoder_estimates(found, truth_hm, grid)
        st.dataframe(L.estimate_rows(estimates), hide_index=True, width="stretch")
    return L.question(8, why=L.dark_why(estimates, view, target))


def step_flip():
    dataset = lesson.lesson_dataset(L.dataset_names())
    if not model_or_stop():
        return L.question(9)
    c = st.columns([1, 1, 2])
    index = c[0].number_input(f"Face ({dataset} val)", 0, 49, 0, key="lesson_flip_face")
    group = c[1].selectbox("Zoom on", L.ZOOM_GROUPS, key="lesson_flip_group")
    image, target, plain = L.face_view(dataset, int(index), False)
    _, _, flipped = L.face_view(dataset, int(index), True)
    points = {"plain": plain.points["dark"], "mirrored": flipped.mirrored["dark"], "averaged": flipped.points["dark"]}
    left, right = st.columns([1.3, 1], gap="large")
    with left:
        st.plotly_chart(L.sized(vles.flip_figure(image, target, points, focus=L.group_indices(SCHEME, group),
                                                 height=L.height(460))),
                        key="lesson_flip_fig", config=figure_config("lesson-flip-test"))
    with right:
        for kind, pts in points.items():
            st.metric(L.FLIP_NAMES[kind], f"{lesson.mean_error(pts, target):.2f} px",
                      help="Mean distance to the true points on this face, in 128 px input pixels (DARK).")
        st.caption("Mean distance to the true points on this face (DARK, 128 px input).")
    effect = lesson.flip_effect(L.evaluation_rows(dataset))
    return L.question(9, L.flip_answer(effect), L.flip_why(effect, dataset))


def step_dataset():
    dataset = lesson.lesson_dataset(L.dataset_names())
    if not model_or_stop():
        return L.question(10)
    rows = L.evaluation_rows(dataset)
    summary = lesson.decoder_summary(rows)
    left, right = st.columns([1, 1], gap="large")
    with left:
        st.plotly_chart(L.sized(vles.compare_bars_figure(rows, height=L.height(360))), key="lesson_compare_bars",
                        config=figure_config("lesson-decoders-on-a-dataset"))
        two = st.column_config.NumberColumn(format="%.2f")
        st.dataframe(L.table_rows(rows), hide_index=True, width="stretch",
                     column_config={c: two for c in L.TABLE_NUMBERS})
        st.caption(L.dataset_caption(rows, dataset))
    with right:
        history = L.model_history()
        st.plotly_chart(L.sized(nme_figure(history, height=L.height(360))), key="lesson_history",
                        config=figure_config("lesson-model-history"))
        st.caption(L.history_caption(history))
    return L.question(10, L.decoder_answer(summary), L.decoder_why(summary, dataset))


RENDER = {"regression": step_regression, "heatmaps": step_heatmaps, "sigma": step_sigma, "rounding": step_rounding,
          "randomized": step_randomized, "topk": step_topk, "architecture": step_architecture, "dark": step_dark,
          "flip": step_flip, "dataset": step_dataset}

with st.container(key=f"lesson_body_{info.slug}"):
    RENDER[info.slug]()

st.divider()
L.navigation(step, "bottom")
share.publish()
share.copy_link(link_box)
