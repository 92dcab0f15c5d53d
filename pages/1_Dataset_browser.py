"""Dataset browser: samples and their landmarks, augmentation, statistics, getting data."""

import ui  # noqa: F401  (first: sets the OpenMP wait policy before torch loads)

from pathlib import Path

import numpy as np
import streamlit as st

from lmkviz.data import check_dataset, scheme_for
from lmkviz.labs import density, mean_shape
from lmkviz.viz import dataset as vds
from ui import cached, share
from ui import dataset_browser as view
from ui.background import download_job, lapa_download, started_text
from ui.common import (
    figure_config,
    add_dataset,
    forget_folder,
    keep_folder,
    kept_folders,
    bump,
    dataset_choices,
    page_of,
    skipped_rows,
    dataset_picker,
    landmark_label,
    open_split_or_stop,
    sample_at_size,
    sample_or_placeholder,
    sample_or_stop,
    session_token,
    setup_page,
    show_error,
    split_picker,
    subset_options,
    subset_picker,
)

setup_page("Dataset browser", ":material/photo_library:")
st.caption("Every face comes as an image plus K landmark points, (x, y) in pixels. Browse them, see what "
           "training augmentation does to them, and check where the points fall across a whole split.")

view.restore_view(d["key"] for d in dataset_choices())
with st.sidebar:
    st.header("Data")
    dataset = dataset_picker(key="ds_dataset")
    view.seed(view.VIEW["split"], f"ds_split:{dataset['key']}", dataset["splits"])
    split = split_picker(dataset, key=f"ds_split:{dataset['key']}")
    view.note(view.VIEW["split"], split)
reader = open_split_or_stop(dataset["key"], split)
scheme = scheme_for(reader.num_points)
with st.sidebar:
    view.seed(view.VIEW["lm"], f"ds_subset_{scheme.name}", subset_options(scheme))
    indices = subset_picker(scheme, key="ds_subset")
    view.note(view.VIEW["lm"], st.session_state.get(f"ds_subset_{scheme.name}"))
    st.caption(f"Scheme **{scheme.name}**: {scheme.num_points} points; left/right are the subject's.")
    link = st.container()  # filled at the end, once every widget of the view has its value
if indices is None:
    st.stop()


@st.fragment
def close_up(shown, names):
    """One sample, its numbers and its point list: the sample picker reruns only this (and the link)."""
    st.subheader("One sample up close")
    left, right = st.columns([3, 1])
    with right:
        detail = st.selectbox("Sample", shown, format_func=lambda i: f"#{i} · {names.get(i, i)}",
                              key=f"ds_detail:{dataset['key']}:{split}", persist_state="page")
        view.note(view.VIEW["sample"], detail)
        numbers = st.toggle("Numbers on the points", value=True, key="ds_numbers", persist_state="page")
        image, points, name, problem = sample_or_placeholder(dataset["key"], split, detail)
        st.metric("Image size", f"{image.shape[1]} × {image.shape[0]} px")
        visible = int(np.isfinite(points).all(axis=1).sum())
        st.metric("Landmarks", f"{visible} of {len(points)} visible")
    with left:
        if problem:
            st.error(f"{problem}. Run the folder check on the Get data tab to list every such file.")
        st.plotly_chart(vds.landmark_figure(image, points, scheme, indices, numbers=numbers),
                        key="ds_detail_fig", config=figure_config("dataset-face-with-landmarks", interactive=True))
    with st.expander("Point list"):
        st.dataframe({"#": list(indices), "name": [scheme.names[i] for i in indices],
                      "x": [round(float(points[i, 0]), 2) for i in indices],
                      "y": [round(float(points[i, 1]), 2) for i in indices]}, hide_index=True)
    share.publish()
    share.copy_link(link)  # the sidebar's link follows the sample (the fragment draws it on every run)


tab_samples, tab_augment, tab_stats, tab_data = st.tabs(
    ["Samples", "Augmentation", "Statistics", "Get data"], key="ds_tab", on_change="rerun")

# ----------------------------------------------------------------------------- samples
if tab_samples.open:
    with tab_samples:
        n = len(reader)
        c1, c2, c3 = st.columns([1, 1, 3], vertical_alignment="bottom")
        per_page = c1.selectbox("Per page", [12, 24, 48], key="ds_per_page", persist_state="page")
        if c2.button("Shuffle", icon=":material/shuffle:", help="Show the samples in a new random order"):
            st.session_state["ds_order_seed"] = int(np.random.default_rng().integers(1 << 31))
        seed = st.session_state.get("ds_order_seed")
        order = np.random.default_rng(seed).permutation(n) if seed is not None else np.arange(n)
        pages, _ = page_of(order, per_page, 1)
        with c3:
            page = st.pagination(pages, default=view.sample_page(order, per_page),
                                 key=f"ds_page:{dataset['key']}:{split}:{per_page}", persist_state="page")
        _, shown = page_of(order, per_page, page)
        view.seed(view.VIEW["sample"], f"ds_detail:{dataset['key']}:{split}", shown)
        samples = [sample_or_placeholder(dataset["key"], split, i) for i in shown]
        titles = [f"#{i}" + (" · unreadable" if s[3] else "") for i, s in zip(shown, samples)]
        st.plotly_chart(vds.sample_grid([s[0] for s in samples], [s[1] for s in samples], titles, scheme, indices,
                                        columns=6), key="ds_grid", config=figure_config("dataset-faces-grid"))
        st.caption(f"Page {page} of {pages} · samples {', '.join(titles[:3])}… "
                   f"({'shuffled' if seed is not None else 'in file order'}). Hover a point for its number and name.")

        close_up(shown, {i: sample[2] for i, sample in zip(shown, samples)})


# ----------------------------------------------------------------------------- augmentation
if tab_augment.open:
    with tab_augment:
        st.markdown(
            "Training sees every face through random **rotation, zoom, shift, colour jitter and mirroring**. "
            "The points are transformed with the image, so they stay on the same features. A mirrored face "
            "also swaps its left and right labels, so the circled point, the subject's right eye corner, stays on "
            "the image's left.")
        c1, c2, c3, c4 = st.columns([1, 2, 1, 1], vertical_alignment="bottom")
        index = int(c1.number_input(f"Sample (0 – {len(reader) - 1})", 0, len(reader) - 1,
                                    value=int(st.session_state.get(f"ds_detail:{dataset['key']}:{split}") or 0),
                                    key=f"ds_aug_sample:{dataset['key']}:{split}", persist_state="page"))
        strength = c2.slider("Augmentation strength", 0.0, 1.0, 1.0, 0.05, key="ds_strength", persist_state="page",
                             help="Scales rotation (up to 30°), zoom (0.75–1.25), shift (10 %) and colour jitter.")
        draws = c3.selectbox("Draws", [3, 4, 5, 6], index=1, key="ds_draws", persist_state="page")
        if c4.button("New draws", icon=":material/casino:"):
            bump("ds_aug_seed")
        size = 256
        flip_perm = tuple(scheme.flip_perm) if scheme.flip_perm is not None else None
        result = cached.augment_preview(dataset["key"], split, index, strength, size, draws,
                                        st.session_state.get("ds_aug_seed", 0), flip_perm)
        sample_or_stop(dataset["key"], split, index)
        original = sample_at_size(dataset["key"], split, index, size)
        marker = scheme.eye_corners[0] if scheme.eye_corners else (indices[0] if indices else None)
        st.plotly_chart(vds.augmentation_figure(original[:2], result, scheme, indices, marker=marker,
                                                height=300 if draws <= 4 else 240),
                        key="ds_aug_fig", config=figure_config("dataset-augmentation-draws"))
        if flip_perm is None:
            st.info(f"Mirroring is off: the {scheme.name} scheme has no known left/right pairing.")
        st.caption(f"Input size {size}×{size}. Points pushed outside the image become invisible (NaN) and "
                   "drop out of the loss.")

# ----------------------------------------------------------------------------- statistics
if tab_stats.open:
    with tab_stats:
        stats = cached.split_stats(dataset["key"], split)
        if stats["used"] < stats["total"]:
            st.info(f"Statistics use {stats['used']:,} of {stats['total']:,} samples, evenly spread"
                    f"{' (synthetic faces are drawn on demand)' if dataset['key'] == 'synthetic' else ''}.")
        mean01 = mean_shape(stats["points01"])
        c1, c2 = st.columns(2)
        with c1:
            st.markdown("**Samples per split**")
            st.plotly_chart(vds.split_counts_figure(dataset["splits"]), key="ds_counts", config=figure_config("dataset-images-per-split"))
            st.markdown("**Mean shape** (positions divided by the image size)")
            st.plotly_chart(vds.mean_shape_figure(mean01, scheme, indices), key="ds_mean", config=figure_config("dataset-mean-shape", interactive=True))
        with c2:
            st.markdown("**Where the landmarks fall**")
            view.keep_density_point(["selected"] + list(indices))
            which = st.selectbox("Landmark", ["selected"] + list(indices), key="ds_density_point",
                                 persist_state="page",
                                 format_func=lambda i: "all selected landmarks" if i == "selected"
                                 else landmark_label(scheme, i))
            chosen = list(indices) if which == "selected" else [int(which)]
            st.plotly_chart(vds.density_figure(density(stats["points01"], chosen), mean01, chosen),
                            key="ds_density", config=figure_config("dataset-landmark-density", interactive=True))
            st.markdown("**Image sizes**")
            sizes = stats["sizes"]
            if len(sizes) and (sizes == sizes[0]).all():
                st.markdown(f"All {len(sizes):,} images are **{sizes[0, 1]} × {sizes[0, 0]} px** (resized to the "
                            "network's square input for training).")
            elif len(sizes):
                st.plotly_chart(vds.image_size_figure(sizes), key="ds_sizes", config=figure_config("dataset-image-sizes"))
                st.caption(f"Widths {sizes[:, 1].min()}–{sizes[:, 1].max()} px, heights "
                           f"{sizes[:, 0].min()}–{sizes[:, 0].max()} px; every image is resized to the "
                           "network's square input.")

# ----------------------------------------------------------------------------- getting data
if tab_data.open:
    with tab_data:
        left, right = st.columns(2, gap="large")
        with left:
            st.subheader("Download LaPa")
            st.markdown("LaPa is the blog post's dataset: 22,000 faces with 106 landmarks, a 2.4 GB archive on "
                        "Google Drive. It is unpacked to `data/LaPa`, where the dataset list finds it.")
            task = lapa_download()
            state = task.snapshot()
            if state.state == "running":
                @st.fragment(run_every=1.0)
                def download_progress():
                    now = task.snapshot()
                    if now.state != "running":
                        st.rerun(scope="app")
                    done_mb, total_mb = now.megabytes
                    st.progress(now.fraction, text=f"{now.message}: {done_mb:,.0f} of {total_mb:,.0f} MB · "
                                                   f"{now.elapsed:.0f} s")
                    st.caption(started_text(now, session_token()))
                    if st.button("Cancel download", key="ds_cancel"):
                        task.cancel()

                download_progress()
            else:
                if st.button("Download LaPa", icon=":material/download:", key="ds_download", type="primary"):
                    task.start(by=session_token())
                    st.rerun()
                download_job(task, session_token())
            st.caption("Without network access the download fails with a message; copy an extracted LaPa "
                       "folder into `data/` instead, or add any folder on the right.")
        with right:
            st.subheader("Add a folder")
            st.markdown("A folder in the LaPa layout: `train/`, `val/`, `test/`, each with `images/NAME.jpg` "
                        "and `landmarks/NAME.txt` (first line K, then K lines `x y`); or COCO keypoints "
                        "(`SPLIT.json` + `SPLIT/` images), a CSV (`SPLIT.csv` rows `name,x0,y0,…` + `SPLIT/` "
                        "images) or iBUG `.pts` files beside their images. The format is detected.")
            with st.form("ds_add_form", border=False):
                path = st.text_input("Folder", placeholder="../shared/datasets/face68", key="ds_add_path")
                full = st.checkbox("Decode every image (slower; finds truncated files)", key="ds_add_full")
                keep = st.checkbox("Keep it in the dataset list after a reload", value=True, key="ds_add_keep",
                                   help="Saves the folder's path in lmkviz's settings file (in $LMKVIZ_HOME, else "
                                        "your configuration folder); remove it below at any time.")
                submitted = st.form_submit_button("Check folder")
            if submitted:
                if not path.strip():
                    st.error("Type the path of a folder first.")
                else:
                    try:
                        with st.spinner("Checking…"):
                            report = check_dataset(path.strip(), full=full)
                    except ValueError as err:
                        show_error(err)
                    else:
                        st.session_state["ds_last_report"] = report
                        st.session_state["ds_last_kept"] = None
                        if sum(report["splits"].values()) and report["points"]:
                            add_dataset(report)
                            if keep:
                                st.session_state["ds_last_kept"] = keep_folder(report["root"])
                            st.rerun()  # the sidebar's dataset list now includes the folder
            report = st.session_state.get("ds_last_report")
            if report:
                usable = sum(report["splits"].values())
                cols = st.columns(len(report["splits"]) + 1)
                for col, (name, count) in zip(cols, report["splits"].items()):
                    col.metric(name, f"{count:,}")
                cols[-1].metric("points per face", report["points"])
                if report["skipped"]:
                    st.warning(f"{len(report['skipped'])} file(s) skipped:")
                    st.dataframe(skipped_rows(report), hide_index=True, column_config={
                        "file": st.column_config.TextColumn(width="medium"),
                        "reason": st.column_config.TextColumn(width="large")})
                if usable and report["points"]:
                    name = Path(report["root"]).name
                    kept_in = st.session_state.get("ds_last_kept")
                    st.success(f"**{name}** is usable ({usable:,} faces, {scheme_for(report['points']).name}) "
                               "and was added to the Dataset list in the sidebar"
                               + (f", kept for later visits (saved in `{kept_in}`)." if kept_in
                                  else " until the page is reloaded."))
                else:
                    st.error("No usable face in this folder: fix the files listed above and check again.")
            kept, problem = kept_folders()
            if problem:
                st.error(problem)
            if kept:
                st.markdown("**Kept folders**, listed on every visit:")
                for entry in kept:
                    c = st.columns([2.4, 1], vertical_alignment="center")  # room for "Remove" at 1400 px
                    c[0].markdown(f"`{entry['folder']}`" + ("" if entry["found"] else " · :orange[not found]"))
                    c[1].button("Remove", key=f"ds_forget:{entry['path']}", icon=":material/close:",
                                on_click=forget_folder, args=(entry["path"],),
                                help="Take it off the dataset list (the folder itself is not touched)")

share.publish()
if not tab_samples.open:  # else the close-up (a fragment) draws the link
    share.copy_link(link)
