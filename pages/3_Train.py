"""Train: set up a run, find a learning rate, start it in the background and watch it learn."""

import ui  # noqa: F401  (first: sets the OpenMP wait policy before torch loads)

import streamlit as st

from lmkviz import jobs, models
from lmkviz.data import parse_subset, scheme_for
from lmkviz.decoding import DECODER_LABELS, DECODERS
from lmkviz.evaluation import primary_decoder
from lmkviz.runs import best_epoch, preview_nme
from lmkviz.training import PRESET_LABELS, PRESETS, heatmap_sizes
from lmkviz.viz import training as vtrain
from ui import share
from ui import train as lab
from ui.common import figure_config, dataset_choices, dataset_label, ensure_choice, runs_root, setup_page, show_error, subset_options

setup_page("Train", ":material/model_training:")
st.markdown(
    "Train a heatmap model as the blog does: pick data, a network and an encoding, optionally run the "
    "**learning-rate finder** (fastai's `lr_find`), then train with a **one-cycle** schedule "
    "(`fit_one_cycle`). Training runs **in the background**: leave the page, close the tab or restart the "
    "server, the run goes on and this page finds it again in the runs folder. How long a run takes depends on "
    "the machine and on what else runs on it: the estimate under the form is measured here.")

REFRESH_S = 2.0
PERSIST = dict(persist_state="session")
P = lab.FORM_PREFIX
every_run = jobs.list_runs(runs_root())
runs = [r for r in every_run if r.task == "train"]
finders = [r for r in every_run if r.task == "lr_find"]

# ----------------------------------------------------------------------------- 1 the form
st.header("1 · Set up a run")
if P + "model" not in st.session_state:  # first visit: the quick demo (the form's values then persist)
    lab.apply_preset()


@st.fragment
def run_form():
    datasets = {d["key"]: d for d in dataset_choices()}
    with st.container(border=True):
        c = st.columns([2, 1.3])
        c[0].selectbox("Preset", list(PRESETS), format_func=PRESET_LABELS.get, key=P + "preset",
                       on_change=lab.apply_preset, **PERSIST,
                       help="Fills in every field below (change any of them afterwards). The dataset you chose "
                            "stays, unless the preset is made for particular data.")
        c[1].text_input("Run name", key=P + "name", max_chars=40, **PERSIST,
                        help="The run folder is runs/<date-time>-<name>.")
        if st.session_state.get(lab.PRESET_NOTE_KEY):
            st.info(st.session_state[lab.PRESET_NOTE_KEY], icon=":material/info:")

        st.markdown("**Data**")
        c = st.columns([2, 1, 1, 1.6])
        ensure_choice(P + "dataset", datasets, "synthetic")
        dataset = datasets[c[0].selectbox("Dataset", list(datasets), format_func=lambda k: dataset_label(datasets[k]),
                                          key=P + "dataset", **PERSIST,
                                          help="Synthetic faces are always here; dataset folders come from "
                                               "data/, LMKVIZ_DATA and the Dataset browser's Get data tab. "
                                               "More datasets: Advanced.")]
        splits = [s for s, n in dataset["splits"].items() if n > 0] or ["train"]
        ensure_choice(P + "train_split", splits, "train")
        ensure_choice(P + "val_split", splits, "val")
        c[1].selectbox("Train split", splits, key=P + "train_split", **PERSIST)
        c[2].selectbox("Validation split", splits, key=P + "val_split", **PERSIST)
        scheme = scheme_for(dataset["points"])
        options = subset_options(scheme)
        ensure_choice(P + f"subset_{scheme.name}", options, "all")
        spec = c[3].selectbox("Landmarks", list(options), format_func=options.get, key=P + f"subset_{scheme.name}",
                              **PERSIST, help="Fewer landmarks train faster; the blog uses five.")
        if spec == "custom":
            spec = c[3].text_input("Indices", key=P + f"custom_{scheme.name}", **PERSIST,
                                   placeholder="36,45,48-54", help="Numbers and ranges, or a group name.")
        try:
            indices = parse_subset(scheme, spec or "")
        except ValueError as err:
            c[3].error(str(err))
            indices = None

        st.markdown("**Network and targets**")
        c = st.columns([2, 1.6, 1, 1, 1])
        model = c[0].selectbox("Model", models.list_models(), key=P + "model", **PERSIST,
                               format_func=lab.model_label,
                               help="\n\n".join(str(models.describe(m)) for m in models.list_models()))
        encodings = lab.encoding_labels()
        ensure_choice(P + "encoding", encodings, "gaussian")
        encoding = c[1].radio("Encoding", list(encodings), format_func=encodings.get, key=P + "encoding", **PERSIST)
        c[1].caption(lab.loss_text(encoding, st.session_state.get(P + "loss", "auto")))
        ensure_choice(P + "input_size", lab.INPUT_SIZES, 128)
        input_size = c[2].selectbox("Input size (px)", lab.INPUT_SIZES, key=P + "input_size", **PERSIST)
        sizes = heatmap_sizes(model, input_size)
        ensure_choice(P + "heatmap_size", sizes)
        c[3].selectbox("Heatmap size", sizes, key=P + "heatmap_size", **PERSIST, disabled=encoding == "simcc",
                       help="U-Nets: stride 1, 2 or 4; HRNets and the EfficientNet output a quarter of the input. "
                            "SimCC has no heatmaps: its x and y vectors follow the input size.")
        if encoding == "binary":
            c[4].number_input("pos_weight", min_value=1.0, max_value=10000.0, step=10.0, key=P + "pos_weight",
                              **PERSIST, help="BCE weight of the one positive cell per heatmap.")
        else:
            sigma_label, sigma_help = lab.sigma_field(encoding)
            c[4].number_input(sigma_label, min_value=0.25, max_value=32.0, step=0.25, key=P + "sigma", **PERSIST,
                              help=sigma_help)

        st.markdown("**Optimisation**")
        c = st.columns([1, 1, 1.3, 1.6])
        c[0].number_input("Epochs", min_value=1, max_value=500, step=1, key=P + "epochs", **PERSIST)
        c[1].number_input("Batch size", min_value=1, max_value=512, step=1, key=P + "batch_size", **PERSIST)
        c[2].number_input("Learning rate", min_value=1e-6, max_value=1.0, step=1e-4, format="%.2e",
                          key=P + "lr", **PERSIST, help="Peak of the one-cycle schedule.")
        devices = ["auto", "cuda", "cpu"] if lab.cuda_available() else ["auto", "cpu"]
        ensure_choice(P + "device", devices, "auto")
        c[3].segmented_control("Device", devices, format_func=lab.DEVICE_LABELS.get, key=P + "device",
                               required=True, **PERSIST,
                               help="Auto takes the GPU when there is one. One job runs per device; "
                                    "others wait in the queue.")
        with st.expander("Augmentation", icon=":material/auto_fix_high:"):
            lab.augmentation_section()
        with st.expander("Advanced", icon=":material/tune:"):
            extra = lab.advanced_section(model, encoding, dataset, datasets)

        values = lab.form_values()
        config = None
        if indices is not None:
            try:
                config = lab.config_from_form(values, spec, dataset, extra)
            except ValueError as err:
                show_error(err)
        with st.expander("Learning-rate finder (fastai's `lr_find`)", icon=":material/search:",
                         expanded=lab.finder_expanded(finders)):
            st.markdown(
                "Trains a fresh model for a few dozen batches while the learning rate grows from 10⁻⁶ to 1, and "
                "records the loss. A good rate sits where the loss falls **fastest**, well before it blows up.")
            c = st.columns([1, 1, 2], vertical_alignment="bottom")
            if lab.FINDER_STEPS_KEY not in st.session_state:
                st.session_state[lab.FINDER_STEPS_KEY] = lab.finder_batches(finders)
            steps = c[0].number_input("Batches", min_value=10, max_value=300, step=10, key=lab.FINDER_STEPS_KEY,
                                      **PERSIST)
            if c[1].button("Run the finder", icon=":material/search:", disabled=config is None, key="trb_lrfind"):
                st.session_state[lab.FINDER_OPEN_KEY] = True
                lab.act(jobs.start_lr_find, config, runs_root(), steps=int(steps))
            c[2].caption("It uses the settings above and runs in the background like training "
                         "(after the job on the same device, if one is running).")
            finder_view(values.get("lr"))
        if config is not None:
            st.caption(lab.plan_text(config, dataset, len(indices), extra))
            lab.show_estimate(config, lab.run_images(values, dataset, extra),
                              lab.train_images(dataset, config.val_split, config.limit_val), len(indices), runs)
        if st.button("Start training", type="primary", icon=":material/play_arrow:", disabled=config is None,
                     key="trb_start"):
            lab.act(jobs.start, config, runs_root(), watch_result=True)



def finder_view(current_lr):
    finders_now = [r for r in jobs.list_runs(runs_root()) if r.task == "lr_find"]
    if not finders_now:
        st.caption("No finder run yet.")
        return
    live = finders_now[0].state in lab.LIVE

    @st.fragment(run_every=REFRESH_S if live else None)
    def finder_result():
        info = jobs.run_info(finders_now[0].path)
        if live and info.state not in lab.LIVE:
            st.rerun()
        st.markdown(f"**{info.name}** · {info.state} · {lab.finder_glance(info)}")
        if info.state in lab.LIVE:
            st.progress(info.progress, text=lab.progress_text(info))
        if info.state == "failed":
            st.error(lab.explain_error(info.error))
        result = lab.lr_find_result(info.path)
        if result:
            found, advice = lab.finder_advice(result, current_lr)
            st.plotly_chart(vtrain.lr_find_figure(result["lr"], result["loss"], found.get("steepest"),
                                                  current_lr), key="lab_lrfind_chart", config=figure_config("train-learning-rate-finder", interactive=True))
            st.markdown(advice)
            c = st.columns([1, 1, 2], vertical_alignment="center")
            if "steepest" in found and c[0].button(f"Use {found['steepest']:.2e}", icon=":material/check:",
                                                   key="trb_use_lr", on_click=lab.use_lr,
                                                   args=(float(found["steepest"]),), help="the steepest descent"):
                st.rerun()  # redraw the form around this fragment
            if "min_over_10" in found and c[1].button(f"Use {found['min_over_10']:.2e}", icon=":material/check:",
                                                      key="trb_use_lr_bold", on_click=lab.use_lr,
                                                      args=(float(found["min_over_10"]),),
                                                      help="a tenth of the rate at the lowest loss"):
                st.rerun()
        c = st.columns([1, 3])
        with c[0].popover("Delete finder runs", icon=":material/delete:"):
            if st.button(f"Delete all {len(finders_now)} finder run(s)", key="trb_del_finders", type="primary"):
                for r in finders_now:
                    try:
                        if r.alive:
                            jobs.stop(r.path, timeout=5)
                        jobs.delete(r.path)
                    except (OSError, ValueError) as err:
                        show_error(err)
                st.rerun()

    finder_result()


run_form()

# ----------------------------------------------------------------------------- 2 the jobs
st.header("2 · Jobs")
any_live = any(r.state in lab.LIVE for r in runs)


@st.fragment(run_every=REFRESH_S if any_live else None)
def job_list():
    infos = [r for r in jobs.list_runs(runs_root()) if r.task == "train"]
    if any_live and not any(r.state in lab.LIVE for r in infos):
        st.rerun()  # the last live job ended: stop refreshing
    if not infos:
        st.info("No training run yet. Choose a preset above and press **Start training**.")
        return
    shown = infos if st.session_state.get("lab_all_runs") else infos[:6]
    for info in shown:
        job_row(info)
    if len(infos) > 6:
        st.toggle(f"Show all {len(infos)} runs", key="lab_all_runs")


def job_row(info):
    with st.container(border=True):
        c = st.columns([2.2, 3, 2.4], vertical_alignment="center")
        with c[0]:
            st.markdown(f"**{info.name}**")
            st.badge(info.state, icon=lab.STATE_ICONS.get(info.state), color=lab.STATE_COLOURS.get(info.state, "gray"))
        c[1].progress(info.progress, text=lab.progress_text(info))
        with c[2].container(horizontal=True, horizontal_alignment="right", gap="small"):
            if st.button("Watch", key=f"trb_watch_{info.name}", icon=":material/monitoring:",
                         on_click=lab.watch, args=(info.name,), help="Show this run's curves below"):
                st.rerun()  # the live view is outside this fragment
            if info.state in lab.LIVE and info.alive:
                if st.button("Stop", key=f"trb_stop_{info.name}", icon=":material/stop:",
                             help="Finish the current step and stop; resume later from the last epoch"):
                    with st.spinner("Stopping…"):
                        jobs.stop(info.path)
                    st.rerun()
            elif info.state in ("stopped", "failed") and info.config is not None:
                if st.button("Resume", key=f"trb_resume_{info.name}", icon=":material/play_arrow:",
                             help="Continue from the last finished epoch"):
                    lab.act(jobs.resume, info.path)
            if info.state not in lab.LIVE:  # a finished job whose process is still exiting is done
                with st.popover("Delete", icon=":material/delete:", help="Delete this run"):
                    st.markdown(f"Delete **{info.name}** with its checkpoints and metrics? This cannot be undone.")
                    if st.button("Delete for good", key=f"trb_delete_{info.name}", type="primary",
                                 icon=":material/delete_forever:"):
                        lab.act(jobs.delete, info.path)
        st.caption(lab.config_glance(info.config))
        if info.state == "queued" and info.alive:
            st.caption(":material/hourglass_top: One job runs per device at a time: this one starts when the job "
                       "before it on the same device ends (stop that one to start this one now).")
        if info.state == "failed":
            st.error(lab.explain_error(info.error))
        elif info.state == "broken":
            st.error(lab.explain_broken(info.error))


job_list()

# ----------------------------------------------------------------------------- 3 live view
st.header("3 · Watch a run")
if not runs:
    st.caption("The curves and predictions of a run appear here once it has started.")
    st.stop()
names = [r.name for r in runs]
live_names = [r.name for r in runs if r.state in lab.LIVE]
share.restore(lab.VIEW, parse={"epoch": int}, choices={"run": names})
ensure_choice(lab.WATCH_KEY, names, live_names[0] if live_names else names[0])
watched = st.selectbox("Run", names, key=lab.WATCH_KEY, help="Newest first; the Watch button of a job picks it too.")
share.publish()
watched_info = next(r for r in runs if r.name == watched)
watch_live = watched_info.state in lab.LIVE


@st.fragment(run_every=REFRESH_S if watch_live else None)
def live_view(path):
    info = jobs.run_info(path) if (path / "config.json").exists() else None
    if info is None:
        st.info("This run was deleted.")
        return
    if watch_live and info.state not in lab.LIVE:
        st.rerun()  # finished, stopped or failed: draw once more without refreshing
    link = st.container(horizontal=True, horizontal_alignment="right")  # filled last, with the epoch shown
    steps, epochs = lab.metrics_of(path)
    config = info.config
    primary = primary_decoder(config.encoding if config else "gaussian")
    best_at, best = best_epoch(epochs, primary)
    c = st.columns(5)
    c[0].metric("State", info.state)
    c[1].metric("Epoch", f"{info.epoch} / {config.epochs if config else '?'}")
    c[2].metric(f"Best val NME ({DECODER_LABELS.get(primary, primary)})", f"{best:.2f} %" if best else "—",
                help=f"epoch {best_at}; the checkpoint best.pt is from this epoch" if best
                else "after the first epoch")
    c[3].metric("Training time", lab.training_time(epochs),
                help="time spent in the finished epochs")
    speed = info.status.get("images_per_s")
    c[4].metric("Speed", f"{speed:.1f} img/s" if speed else "—", help="training images per second")
    if info.state in lab.LIVE:
        st.progress(info.progress, text=lab.progress_text(info))
    if info.state == "failed":
        st.error(lab.explain_error(info.error))
    elif info.state == "broken":
        st.error(lab.explain_broken(info.error))
    status = info.status
    per = status.get("steps_per_epoch")
    c = st.columns(3, gap="medium")
    c[0].markdown("**Loss**")
    total = config.epochs if config else None
    c[0].plotly_chart(vtrain.loss_figure(epochs, steps, per, total_epochs=total), key="lab_loss",
                      config=figure_config("train-loss-curves"))
    c[1].markdown("**Validation NME per decoder**")
    c[1].plotly_chart(vtrain.nme_figure(epochs, [m for m in DECODERS if any(m in (r.get("val_nme") or {}) for r in epochs)]
                                        or None, best_epoch=best_at, total_epochs=total),
                      key="lab_nme", config=figure_config("train-validation-nme"))
    c[2].markdown("**Learning rate** (one-cycle: warm up, then anneal)" if config and config.schedule == "onecycle"
                  else "**Learning rate**")
    c[2].plotly_chart(vtrain.lr_figure(steps, per, status.get("total_steps")), key="lab_lr", config=figure_config("train-learning-rate"))

    st.subheader("Validation images, epoch by epoch")
    kept = lab.preview_epochs(path)
    shown_epoch = info.epoch
    if kept:
        if len(kept) > 1:
            lab.follow_newest_epoch(info.name, kept)
            shown_epoch = st.select_slider(
                "Epoch", kept, key=lab.PREVIEW_EPOCH_KEY,
                help="Move back and forth to replay how the heatmaps sharpen and the points settle as the "
                     "network learns. While a run trains, the slider follows the newest epoch unless you move it.")
        else:
            shown_epoch = kept[0]
        preview = lab.epoch_preview_of(path, shown_epoch)
    else:  # runs made before every epoch's preview was kept: the newest only
        preview = lab.preview_of(path)
    if preview is None:
        st.caption("The first predictions appear after the first epoch." if not info.epoch else
                   "This run's folder holds no preview images (preview.npz, previews/).")
    else:
        decoders = lab.preview_decoders(preview)
        decoder = st.segmented_control("Decoder", decoders, default=primary if primary in decoders else decoders[0],
                                       format_func=lab.decoder_label, key="lab_preview_decoder", required=True)
        errors = preview_nme(preview, decoder)
        st.plotly_chart(vtrain.preview_figure(preview["images"], preview["target"], preview[f"pred_{decoder}"],
                                              preview.get("heatmaps"), decoder, errors), key="lab_preview", config=figure_config("train-validation-predictions"))
        st.caption(f"Top: target (yellow) and predicted points ({lab.decoder_label(decoder)}), white "
                   "lines join them. " + (f"Bottom: the predicted heatmaps of all {len(preview['indices'])} landmarks "
                                          "(maximum over channels). " if "heatmaps" in preview else
                                          "This model outputs the points directly: no heatmaps to show. ")
                   + f"Epoch {shown_epoch}.")
    with st.expander("Log"):
        st.code(lab.tail(path / "train.log") or lab.tail(path / "output.log") or "(empty)", language=None)
    share.publish()
    share.copy_link(link)


live_view(watched_info.path)

# ----------------------------------------------------------------------------- 4 runs side by side
st.header("4 · Compare runs")
with_epochs = [r.name for r in runs if lab.metrics_of(r.path)[1]]
if len(runs) < 2:
    st.caption("With two runs or more, their settings and curves are compared here.")
    st.stop()
chosen = st.multiselect("Runs", [r.name for r in runs], default=with_epochs[:3], key="lab_compare",
                        help="Newest first. The table lists the settings that differ between the chosen runs.")
picked = [r for r in runs if r.name in chosen]
if len(picked) < 2:
    st.caption("Choose two runs or more.")
    st.stop()
c = st.columns([3, 1], vertical_alignment="bottom")
every_field = c[1].toggle("Every setting", key="lab_compare_all", help="Also the settings the runs share")
rows = lab.compare_rows(picked, lambda r: primary_decoder(r.config.encoding if r.config else "gaussian"),
                        every_field=every_field)
c[0].markdown("**Settings by run**: cells that differ from the first run's are highlighted.")
st.dataframe(lab.highlight_differences(rows), hide_index=True, width="stretch", key="lab_compare_table")
smoothing = st.slider("Smoothing", 0.0, 0.99, 0.6, 0.01, key="lab_smoothing", **PERSIST,
                      help="Exponential moving average of the curves, as TensorBoard's (0 = raw values).")
curves = [lab.compare_curves(r) for r in picked]
c = st.columns(2, gap="medium")
c[0].markdown("**Validation NME** (each run's primary decoder)")
c[0].plotly_chart(vtrain.compare_figure(curves, "val_nme", smoothing), key="lab_compare_nme",
                  config=figure_config("train-compare-validation-nme"))
c[1].markdown("**Training loss** (each logged step)")
c[1].plotly_chart(vtrain.compare_figure(curves, "train_loss", smoothing), key="lab_compare_loss",
                  config=figure_config("train-compare-training-loss"))
