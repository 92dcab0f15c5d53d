"""lmkviz home: what it is, the pipeline on a live example, what this machine has, where to go."""

import ui  # noqa: F401  (first: sets the OpenMP wait policy before torch loads)

import streamlit as st

from lmkviz.viz.encoding import pipeline_figure
from ui import home, warmup
from ui.common import (
    figure_config,
    checkpoint_files,
    checkpoint_info,
    compute_device,
    dataset_choices,
    existing_pages,
    setup_page,
    training_runs,
)

setup_page("lmkviz", ":material/target:")
st.markdown(
    "**Facial landmarks by heatmap regression, explained and explorable.** A network does not output the "
    "(x, y) of each landmark directly: it paints one small *heatmap* per landmark, a blob where it believes the "
    "point is, on a grid coarser than the image. A *decoder* then turns each blob back into a point. How the "
    "blob is drawn (the encoding) and read (the decoder) decides how precise the points can be. "
    "These pages let you see every step on real faces.")

st.graphviz_chart(home.PIPELINE_DOT, width="stretch")

with st.spinner("Drawing an example: the first visit loads PyTorch…"):
    example = home.pipeline_example()
st.plotly_chart(pipeline_figure(example["image"], example["heatmap"], example["truth"], example["estimates"],
                                example["landmark"]), key="home_pipeline", config=figure_config("home-pipeline-example"))
st.caption(home.example_caption(example))

st.subheader("Explore")
descriptions = {
    "pages/1_Dataset_browser.py": "faces and their landmarks, augmentation, statistics, getting data",
    "pages/2_Encoding_lab.py": "heatmaps, decoders and their errors, the blog's rounding, randomized rounding",
    "pages/3_Train.py": "train a model in the background and watch it learn",
    "pages/4_Compare_decoders.py": "every decoder on a trained model's outputs",
    "pages/5_Upload_a_face.py": "landmarks on your own photo",
}
for script, label, icon in existing_pages():
    if script in descriptions:
        c1, c2 = st.columns([1, 3], vertical_alignment="center")
        with c1:
            st.page_link(script, label=label, icon=icon)
        c2.caption(descriptions[script])

st.subheader("On this machine")
datasets = dataset_choices()
checkpoints = checkpoint_files()
runs = training_runs()
active = [r for r in runs if r.state in ("running", "queued")]
c1, c2, c3, c4 = st.columns(4)
c1.metric("Datasets", len(datasets), help="Synthetic faces plus LaPa-layout folders in data/ and LMKVIZ_DATA")
c2.metric("Checkpoints", len(checkpoints), help="checkpoints/default.pt and the runs' best.pt / last.pt")
c3.metric("Compute", home.short_device(compute_device()), help=compute_device())
c4.metric("Training jobs running", len([r for r in active if r.state == "running"]),
          help=f"{len(active)} running or queued, {len(runs)} runs in total")

st.markdown("**Datasets**")
st.dataframe(home.dataset_rows(datasets), hide_index=True, width="stretch", column_config=home.DATASET_COLUMNS)
# one table per row, full width: side by side they scroll sideways at 1400 px with the sidebar open
st.markdown("**Checkpoints**")
if checkpoints:
    infos = [checkpoint_info(c["path"], c["modified"]) for c in checkpoints]
    st.dataframe(home.checkpoint_rows(checkpoints, infos), hide_index=True, width="stretch",
                 column_config=home.CHECKPOINT_COLUMNS)
else:
    st.info("No checkpoint yet: the shipped `checkpoints/default.pt` is not here and no run has saved one. "
            "Train a model to get one.")
st.markdown("**Training jobs**")


@st.fragment(run_every=5 if active else None)  # follow running jobs without reloading the page
def jobs_table():
    latest = training_runs()
    if latest:
        st.dataframe(home.run_rows(latest[:8]), hide_index=True, width="stretch", column_config=home.RUN_COLUMNS)
    else:
        st.caption("No training runs yet.")


jobs_table()

with st.sidebar:
    st.caption("Start with the **Encoding lab** to see why decoding matters.")

warmup.start()  # the other pages' imports, in the background while this page is read
