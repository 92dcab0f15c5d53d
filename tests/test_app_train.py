"""AppTest: the Train page fills its form from presets, starts jobs, lists them and shows a run learning.

Everything the page shows comes from the runs folder (LMKVIZ_RUNS in a temporary
folder); jobs.start / jobs.resume are replaced by fakes that write the run folder
without starting a process, so these tests stay fast and leave nothing running.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from lmkviz.decoding import DECODER_LABELS, DECODERS
from lmkviz import jobs
from lmkviz.runs import RunFolder, new_run_dir
from lmkviz.training import train
from lmkviz.viz import training as vtrain
from tests.apptest import REPO_ROOT, chart, metric, open_page, rerun, st, switch_to, widget
from tests.helpers import tiny_config

PAGE = str(REPO_ROOT / "pages" / "3_Train.py")


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """A finished tiny run (2 epochs on 8 synthetic faces), trained once for the module."""
    root = tmp_path_factory.mktemp("trained")
    return train(tiny_config(name="tiny"), runs_root=root, progress_bar=False)


@pytest.fixture
def runs(monkeypatch, tmp_path) -> Path:
    root = tmp_path / "runs"
    root.mkdir()
    monkeypatch.setenv("LMKVIZ_RUNS", str(root))
    monkeypatch.setenv("LMKVIZ_DATA", str(tmp_path / "no_data"))
    st.cache_data.clear()
    st.cache_resource.clear()
    return root


FAKE_RATE = 10.0
"""Images per second of the fake timing below (a real one takes seconds per test)."""


@pytest.fixture(autouse=True)
def quick_timing(monkeypatch) -> list:
    """The page's time estimate times a few training steps; here a fake says FAKE_RATE images/s
    and no loading time, and records the configs it was asked about."""
    from lmkviz.training import estimate

    asked = []

    def fake(config, **kwargs):
        asked.append(config)
        return estimate.Throughput(images_per_s=FAKE_RATE, source="timed", detail="a fake timing",
                                   measured_at=time.time(), load_s=0.0)

    monkeypatch.setattr(estimate, "time_training", fake)
    return asked


@pytest.fixture
def started(monkeypatch) -> list:
    """Replace jobs.start / resume by fakes that write a queued run folder; returns the calls."""
    calls = []

    def fake_start(config, runs_root="runs"):
        run = RunFolder(new_run_dir(config.name, runs_root))
        run.write_config(config)
        run.write_status(state="queued", queued_at=time.time(), epochs=config.epochs, epoch=0, step=0)
        calls.append(("start", config, run.path))
        return run.path

    def fake_resume(path):
        RunFolder(path).write_status(state="queued", queued_at=time.time(), error=None)
        calls.append(("resume", None, Path(path)))
        return Path(path)

    monkeypatch.setattr(jobs, "start", fake_start)
    monkeypatch.setattr(jobs, "resume", fake_resume)
    return calls






def copy_run(src: Path, root: Path, name: str) -> Path:
    import shutil

    dst = root / name
    shutil.copytree(src, dst)
    RunFolder(dst).write_status(pid=None)  # trained in this process, which is alive: no longer its job
    return dst


def test_presets_fill_the_form(runs):
    at = open_page(PAGE)
    assert at.selectbox(key="tr_preset").value == "quick-demo"
    assert at.selectbox(key="tr_model").value == "hrnet18_small"
    assert at.number_input(key="tr_epochs").value == 12
    plan = next(c.value for c in at.caption if "optimiser steps" in c.value)
    assert "128 training and 32 validation images" in plan and "32×32 heatmaps" in plan
    assert any("No training run yet" in i.value for i in at.info)

    at.selectbox(key="tr_preset").set_value("blog-hrnet")
    rerun(at)
    assert at.selectbox(key="tr_model").value == "hrnet18"
    assert at.radio(key="tr_encoding").value == "binary"
    assert at.selectbox(key="tr_input_size").value == 256
    assert at.selectbox(key="tr_heatmap_size").value == 64
    assert at.number_input(key="tr_pos_weight").value == 100.0  # the BCE weight replaces sigma
    assert not [n for n in at.number_input if n.key == "tr_sigma"]
    assert any("BCE with logits" in c.value for c in at.caption)

    at.selectbox(key="tr_preset").set_value("blog-unet")
    rerun(at)
    assert at.selectbox(key="tr_model").value == "unet_resnet18"
    assert at.selectbox(key="tr_heatmap_size").value == 256  # stride 1: full-resolution maps
    assert at.number_input(key="tr_sigma").value == 10.0
    # a U-Net can choose its stride, an HRNet cannot
    assert at.selectbox(key="tr_heatmap_size").options == ["256", "128", "64"]


def test_device_choice_offers_the_gpu_only_when_there_is_one(runs):
    import torch

    at = open_page(PAGE)
    options = widget(at, "button_group", "tr_device").proto.options
    labels = [o.content for o in options]
    assert ("GPU" in labels) == torch.cuda.is_available()
    assert "CPU" in labels and "Auto" in labels


def test_start_training_launches_a_job_from_the_form(runs, started):
    at = open_page(PAGE)
    at.number_input(key="tr_epochs").set_value(3)
    at.text_input(key="tr_name").set_value("my run")
    rerun(at)
    at.button(key="trb_start").click()
    rerun(at)
    assert len(started) == 1
    kind, config, path = started[0]
    assert kind == "start" and config.epochs == 3 and config.name == "my run"
    assert config.model == "hrnet18_small" and config.limit_train == 128 and config.data == ("synthetic",)
    assert config.log_every == 2  # 8 steps per epoch: about four step records each
    assert path.parent == runs  # in LMKVIZ_RUNS
    # the job list and the live view come from the runs folder: the new job is there, queued
    assert at.selectbox(key="lab_watch").value == path.name
    assert metric(at, "State") == "queued"
    assert any("queued" in p.proto.text for p in at.get("progress"))
    # a fresh page (another tab, a restarted server) finds it again
    again = open_page(PAGE)
    assert again.selectbox(key="lab_watch").value == path.name


def test_live_view_of_a_finished_run(runs, trained_run):
    copy_run(trained_run, runs, "20260101-000000-tiny")
    at = open_page(PAGE)
    assert metric(at, "State") == "done"
    assert metric(at, "Epoch") == "2 / 2"
    steps, epochs = RunFolder(trained_run).history()
    best = min(r["val_nme"]["dark"] for r in epochs)  # the Gaussian run is judged by DARK
    assert metric(at, "Best val NME (DARK)") == f"{best:.2f} %"
    nme = chart(at, "lab_nme")
    names = [t["name"] for t in nme["data"] if t.get("name")]
    assert names == [vtrain.DECODER_SHORT.get(m, m) for m in DECODERS if m in epochs[0]["val_nme"]]
    assert all(DECODER_LABELS[m] in t["hovertemplate"] for m, t in zip(DECODERS, nme["data"]))
    loss = chart(at, "lab_loss")
    assert {t["name"] for t in loss["data"]} >= {"train", "validation"}
    assert loss["layout"]["xaxis"]["range"] == nme["layout"]["xaxis"]["range"] == [0, 2]  # planned epochs
    lr = chart(at, "lab_lr")
    assert lr["data"][0]["customdata"] == [r["step"] for r in steps]  # one point per logged step
    preview = chart(at, "lab_preview")
    # 2 preview images: the photo in both rows plus the heatmap layer in the bottom one
    assert len(preview["layout"]["images"]) == 2 * 3
    stored = RunFolder(trained_run).preview()["nme_dark"]
    assert preview_titles(preview) == [f"image {i + 1} · NME {100 * v:.1f} %" for i, v in enumerate(stored)]

    # the decoder of the preview can be switched
    widget(at, "button_group", "lab_preview_decoder").set_value("argmax")
    rerun(at)
    preview = chart(at, "lab_preview")
    assert any(t.get("name") == "prediction (argmax)" for t in preview["data"])


def test_the_epoch_slider_replays_the_previews_of_every_epoch(runs, trained_run):
    """Each epoch's kept preview (previews/epoch-NNN.npz) can be shown again: the slider starts at
    the newest epoch and moving it draws that epoch's predictions and heatmaps."""
    path = copy_run(trained_run, runs, "20260101-000000-tiny")
    run = RunFolder(path)
    assert run.preview_epochs() == [1, 2]
    at = open_page(PAGE)
    slider = at.select_slider(key="lab_preview_epoch")
    assert slider.options == ["1", "2"] and slider.value == 2
    newest = chart(at, "lab_preview")
    nme = {e: run.epoch_preview(e)["nme_dark"] for e in (1, 2)}
    assert preview_titles(newest) == [f"image {i + 1} · NME {100 * v:.1f} %" for i, v in enumerate(nme[2])]
    slider.set_value(1)
    rerun(at)
    first = chart(at, "lab_preview")
    assert preview_titles(first) == [f"image {i + 1} · NME {100 * v:.1f} %" for i, v in enumerate(nme[1])]
    heat = lambda fig: [im["source"] for im in fig["layout"]["images"] if im.get("layer") == "above"]
    assert heat(first) != heat(newest)  # the heatmaps of epoch 1, not those of epoch 2
    assert any("Epoch 1." in c.value for c in at.caption)
    first_points = [t["x"] for t in first["data"] if str(t.get("name", "")).startswith("prediction")]
    newest_points = [t["x"] for t in newest["data"] if str(t.get("name", "")).startswith("prediction")]
    assert first_points != newest_points
    # the chosen epoch stays while the page refreshes
    rerun(at)
    assert at.select_slider(key="lab_preview_epoch").value == 1


def test_a_shared_link_opens_the_same_run_and_epoch(runs, trained_run):
    """?run=&epoch= (ui.share) choose the watched run and the preview's epoch; the URL follows."""
    from tests.apptest import AppTest

    copy_run(trained_run, runs, "20260101-000000-tiny")
    copy_run(trained_run, runs, "20260102-000000-newer")
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.query_params["run"] = "20260101-000000-tiny"
    at.query_params["epoch"] = "1"
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="lab_watch").value == "20260101-000000-tiny"  # not the newest run
    assert at.select_slider(key="lab_preview_epoch").value == 1
    nme = RunFolder(runs / "20260101-000000-tiny").epoch_preview(1)["nme_dark"]
    assert preview_titles(chart(at, "lab_preview")) == [f"image {i + 1} · NME {100 * v:.1f} %"
                                                        for i, v in enumerate(nme)]
    at.selectbox(key="lab_watch").set_value("20260102-000000-newer")
    rerun(at)
    assert at.query_params["run"] == "20260102-000000-newer" and at.query_params["epoch"] == "2"
    assert any("run=20260102-000000-newer" in c.value for c in at.code)  # the link to copy
    # a run that is not there is ignored with a note
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.query_params["run"] = "../../etc"
    at.run()
    assert not at.exception and at.selectbox(key="lab_watch").value == "20260102-000000-newer"
    assert any("Ignored from the link" in c.value for c in at.caption)


def test_a_direct_regression_run_is_shown_without_heatmaps(runs):
    """A run of the direct-regression baseline has points but no heatmaps: its previews draw the
    points (top row only), each epoch, with its own decoder."""
    path = train(tiny_config(name="direct", model="resnet18_regression", encoding="regression"), runs_root=runs,
                 progress_bar=False)
    RunFolder(path).write_status(pid=None)
    at = open_page(PAGE)
    preview = chart(at, "lab_preview")
    assert not [im for im in preview["layout"]["images"] if im.get("layer") == "above"]  # no heatmap layer
    assert len(preview_titles(preview)) == 2
    assert any("no heatmaps to show" in c.value for c in at.caption)
    assert at.select_slider(key="lab_preview_epoch").options == ["1", "2"]
    nme = chart(at, "lab_nme")  # its own decoder's curve, not five empty heatmap-decoder curves
    assert [t["name"] for t in nme["data"] if t.get("name")] == ["direct"] and len(nme["data"][0]["y"]) == 2


def preview_titles(figure: dict) -> list[str]:
    return [a["text"] for a in figure["layout"].get("annotations", []) if a.get("text", "").startswith("image ")]


def test_preview_nme_of_a_106_point_run_uses_lapa_eye_corners(runs, make_lapa_folder):
    """LaPa-106's outer eye corners are 66 and 79 (36 and 45 are brow points there): the
    preview's NME is the evaluator's, normalised by the right distance."""
    from lmkviz.evaluation import evaluate

    folder = make_lapa_folder("lapa106", n_per_split=3, num_points=106, size=64, bad_files=False,
                              splits=("train", "val"))
    path = train(tiny_config(name="lapa", data=(str(folder.root),), epochs=1, limit_train=3, limit_val=None),
                 run_dir=runs / "20260101-000000-lapa", progress_bar=False)
    RunFolder(path).write_status(pid=None)
    at = open_page(PAGE)
    truth = evaluate(path / "last.pt", folder.root, "val", limit=2).nme["dark"]
    assert preview_titles(chart(at, "lab_preview")) == [f"image {i + 1} · NME {100 * v:.1f} %"
                                                         for i, v in enumerate(truth)]


def test_failed_run_is_explained_and_can_be_resumed(runs, started):
    run = RunFolder(new_run_dir("broken", runs))
    run.write_config(tiny_config(name="broken"))
    run.write_status(state="failed", epoch=1, error="loss became nan at epoch 1, step 3: training diverged. "
                                                   "Lower the learning rate")
    at = open_page(PAGE)
    errors = " ".join(e.value for e in at.error)
    assert "diverged" in errors and "10× lower" in errors
    at.button(key=f"trb_resume_{run.path.name}").click()
    rerun(at)
    assert started and started[0][0] == "resume"
    assert jobs.run_info(run.path).state == "queued"


def test_delete_needs_a_confirmation(runs, trained_run):
    path = copy_run(trained_run, runs, "20260101-000000-tiny")
    at = open_page(PAGE)
    # the delete button sits inside a popover that asks first
    assert at.button(key=f"trb_delete_{path.name}").label == "Delete for good"
    assert path.exists()
    at.button(key=f"trb_delete_{path.name}").click()
    rerun(at)
    assert not path.exists()
    assert any("No training run yet" in i.value for i in at.info)


def test_lr_finder_result_sets_the_learning_rate(runs):
    run = RunFolder(new_run_dir("lrfind-quick-demo", runs))
    run.write_config(tiny_config(name="lrfind"))
    run.write_status(state="done", task="lr_find", step=30, total_steps=30)
    lrs = [1e-6 * 10 ** (i / 5) for i in range(30)]
    losses = [1.0 - 0.5 / (1 + (1e-3 / lr) ** 2) + (2.0 if lr > 0.05 else 0) for lr in lrs]
    (run.path / "lr_find.json").write_text(json.dumps({"lr": lrs, "loss": losses, "suggested": 1e-3}))
    at = open_page(PAGE)
    fig = chart(at, "lab_lrfind_chart")
    assert fig["layout"]["xaxis"]["type"] == "log"
    # a finder run is not a training job
    assert not [b for b in at.button if b.key and b.key.startswith("trb_watch_")]
    assert at.number_input(key="tr_lr").value == pytest.approx(3e-3)
    at.button(key="trb_use_lr").click()
    rerun(at)
    assert at.number_input(key="tr_lr").value == pytest.approx(1e-3)


def test_stop_ends_a_live_job(runs):
    import subprocess

    run = RunFolder(new_run_dir("live", runs))
    run.write_config(tiny_config(name="live"))
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        from lmkviz import procs

        run.write_status(state="running", **procs.identity(worker.pid), epoch=1, step=3, steps_per_epoch=2,
                         total_steps=4, eta_s=75.0)
        at = open_page(PAGE)
        bar = next(p.proto.text for p in at.get("progress") if "epoch 1/2" in p.proto.text)
        assert "step 3/4" in bar and "ETA 1:15" in bar
        assert not [b for b in at.button if b.key == f"trb_delete_{run.path.name}"]  # stop it first
        at.button(key=f"trb_stop_{run.path.name}").click()
        rerun(at)
        assert worker.wait(timeout=20) is not None
        assert jobs.run_info(run.path).state == "stopped"
        assert at.button(key=f"trb_resume_{run.path.name}")
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def test_form_values_survive_a_visit_to_another_page(runs):
    at = switch_to("pages/3_Train.py")
    at.number_input(key="tr_epochs").set_value(7)
    at.selectbox(key="tr_model").set_value("unet_resnet18_small")
    rerun(at)
    at.switch_page("pages/5_Upload_a_face.py").run()
    at.switch_page("pages/3_Train.py").run()
    assert not at.exception, at.exception
    assert at.number_input(key="tr_epochs").value == 7
    assert at.selectbox(key="tr_model").value == "unet_resnet18_small"


def test_broken_run_folders_are_shown_as_broken_next_to_the_good_ones(runs):
    """Hand-edited or damaged run folders never take the page down: each is listed as broken,
    with its reason, and the good run is shown as usual."""
    from tests.helpers import BROKEN, make_broken_runs

    good = make_broken_runs(runs)
    junk = RunFolder(runs / "20260103-000000-junk-metrics")  # a good config with damaged metrics
    junk.path.mkdir()
    junk.write_config(tiny_config(name="junk"))
    junk.write_status(state="stopped", epoch=1)
    junk.metrics_path.write_text('[1]\n{"kind": "step", "step": "x", "epoch": 1}\n{"kind": "epoch", "epoch": 1, '
                                 '"val_nme": "bad", "train_loss": "x"}\n{"kind": "step", "step": 2, "epoch": 1, '
                                 '"loss": "nan?", "lr": null}\n')
    at = open_page(PAGE)
    at.toggle(key="lab_all_runs").set_value(True)
    rerun(at)
    badges = [m.value for m in at.markdown if "-badge[" in m.value]  # st.badge is markdown here
    assert sum(b.endswith(" broken]") for b in badges) == len(BROKEN)
    errors = " ".join(e.value for e in at.error)
    assert "status.json" in errors and "config.json" in errors and "pid" in errors
    for name in ("junk-metrics", good.name.split("-", 2)[2]):
        at.selectbox(key="lab_watch").set_value(next(o for o in at.selectbox(key="lab_watch").options
                                                       if o.endswith(name)))
        rerun(at)
    for name in BROKEN:
        at.selectbox(key="lab_watch").set_value(next(o for o in at.selectbox(key="lab_watch").options
                                                       if o.endswith(name)))
        rerun(at)
        assert metric(at, "State") == "broken"


# ----------------------------------------------------------------------------- issue 14 and 12's Train items


def test_a_preset_keeps_the_chosen_dataset_unless_it_is_made_for_other_data(runs, make_lapa_folder, monkeypatch):
    lapa = make_lapa_folder("mine", n_per_split=3, bad_files=False, size=48)
    monkeypatch.setenv("LMKVIZ_DATA", str(lapa.root.parent))
    at = open_page(PAGE)
    at.selectbox(key="tr_dataset").set_value(str(lapa.root))
    rerun(at)
    at.selectbox(key="tr_preset").set_value("blog-hrnet")
    rerun(at)
    assert at.selectbox(key="tr_model").value == "hrnet18"
    assert at.selectbox(key="tr_dataset").value == str(lapa.root)  # it used to jump back to synthetic

    # the shipped model's recipe is made for face68 + ytf68: not here, so the dataset stays and a note says so
    at.selectbox(key="tr_preset").set_value("effnet-faces")
    rerun(at)
    assert at.selectbox(key="tr_dataset").value == str(lapa.root)
    assert any("face68 + ytf68" in i.value and "not in the dataset list" in i.value for i in at.info)


def test_the_shipped_models_preset_takes_its_datasets_and_recipe(runs, make_lapa_folder, monkeypatch, started):
    face68 = make_lapa_folder("sets/face68", n_per_split=2, bad_files=False, size=48)
    ytf68 = make_lapa_folder("sets/ytf68", n_per_split=3, bad_files=False, size=48)
    monkeypatch.setenv("LMKVIZ_DATA", str(face68.root.parent))
    at = open_page(PAGE)
    from lmkviz.training import PRESET_LABELS

    assert PRESET_LABELS["effnet-faces"] in at.selectbox(key="tr_preset").options
    at.selectbox(key="tr_preset").set_value("effnet-faces")
    rerun(at)
    assert at.selectbox(key="tr_dataset").value == str(face68.root)
    assert at.multiselect(key="tr_also").value == [str(ytf68.root)]
    assert at.selectbox(key="tr_model").value == "effnet_lite0_fpn"
    assert at.selectbox(key="tr_loss").value == "awing" and at.radio(key="tr_framing").value == "face"
    assert at.number_input(key="tr_opt_effnet_lite0_fpn_frozen_blocks").value == 3
    plan = next(c.value for c in at.caption if "optimiser steps" in c.value)
    assert plan.startswith("5 training and 2 validation images")  # 2 + 3 training faces
    at.button(key="trb_start").click()
    rerun(at)
    config = started[0][1]
    assert config.data == (str(face68.root), str(ytf68.root)) and config.val_data == str(face68.root)
    assert (config.model, config.model_kwargs, config.pretrained, config.loss) == (
        "effnet_lite0_fpn", {"frozen_blocks": 3}, True, "awing")
    assert (config.framing, config.occlusion, config.blur, config.translate) == ("face", 0.3, 0.2, 0.08)


def test_augmentation_and_advanced_fields_reach_the_run(runs, started):
    at = open_page(PAGE)
    assert widget(at, "number_input", "tr_margin").proto.disabled  # the margin is of face crops
    at.radio(key="tr_framing").set_value("face")
    rerun(at)
    at.number_input(key="tr_margin").set_value(2.0)
    at.slider(key="tr_rotation").set_value(10.0)
    at.slider(key="tr_scale").set_value((0.9, 1.1))
    at.slider(key="tr_occlusion").set_value(0.4)
    at.checkbox(key="tr_flip").uncheck()
    at.selectbox(key="tr_loss").set_value("awing")
    at.number_input(key="tr_seed").set_value(7)
    rerun(at)
    assert at.selectbox(key="tr_loss").options == ["the encoding's own", "MSE", "Adaptive Wing"]
    assert widget(at, "button_group", "tr_pretrained").proto.disabled  # an HRNet has no ImageNet weights
    at.button(key="trb_start").click()
    rerun(at)
    config = started[0][1]
    assert (config.framing, config.margin, config.rotation, config.scale_min, config.scale_max) == (
        "face", 2.0, 10.0, 0.9, 1.1)
    assert (config.occlusion, config.flip, config.loss, config.seed, config.pretrained) == (0.4, False, "awing", 7, False)

    # a binary encoding offers BCE only; a U-Net its ImageNet weights and its width
    at.radio(key="tr_encoding").set_value("binary")
    at.selectbox(key="tr_model").set_value("unet_resnet18_small")
    rerun(at)
    assert at.selectbox(key="tr_loss").options == ["the encoding's own", "BCE with logits"]
    assert not widget(at, "button_group", "tr_pretrained").proto.disabled
    assert at.number_input(key="tr_opt_unet_resnet18_small_width").value == 128


def test_the_time_estimate_comes_from_the_measured_rate(runs, quick_timing, monkeypatch):
    at = open_page(PAGE)
    page_text = " ".join(m.value for m in at.markdown)
    assert "two minutes" not in page_text  # no promise that holds on no machine in particular
    estimate = next(c.value for c in at.caption if "on this machine" in c.value)
    # 15 s start-up + 12 epochs x (128 images / 10 per s + 32 validation images x 0.4 / 10 per s) = 184 s
    assert "About 3 min on this machine" in estimate and "10.0 training images/s" in estimate
    assert len(quick_timing) == 1 and quick_timing[0].model == "hrnet18_small"
    rerun(at)
    assert len(quick_timing) == 1  # kept per model, size, batch and device
    at.button(key="trb_retime").click()
    rerun(at)
    assert len(quick_timing) == 2
    assert not at.warning

    from lmkviz.training import estimate as est

    monkeypatch.setattr(est, "time_training", lambda config, **kw: est.Throughput(
        images_per_s=0.5, source="timed", detail="slow", measured_at=time.time()))
    at.selectbox(key="tr_preset").set_value("blog-hrnet")
    rerun(at)
    warning = " ".join(w.value for w in at.warning)
    assert "On this CPU the run takes about" in warning and "GPU" in warning


def test_the_estimate_cites_earlier_runs_of_the_same_model(runs, trained_run):
    copy_run(trained_run, runs, "20260101-000000-tiny")  # hrnet18_small at 64 px
    at = open_page(PAGE)
    at.selectbox(key="tr_input_size").set_value(64)
    rerun(at)
    epochs = RunFolder(trained_run).history()[1]
    rates = sorted(r["images_per_s"] for r in epochs)
    estimate = next(c.value for c in at.caption if "on this machine" in c.value)
    assert f"Earlier: {(rates[0] + rates[1]) / 2:.1f} images/s" in estimate and "20260101-000000-tiny" in estimate


def test_a_finished_job_offers_delete_not_stop_while_its_process_exits(runs):
    """The job list showed Stop for a done job until a reload: its process was still exiting."""
    import subprocess

    run = RunFolder(new_run_dir("just-done", runs))
    run.write_config(tiny_config(name="just-done"))
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        from lmkviz import procs

        run.write_status(state="done", **procs.identity(worker.pid), epoch=2, step=4, steps_per_epoch=2,
                         total_steps=4)
        assert jobs.run_info(run.path).alive
        at = open_page(PAGE)
        keys = {b.key for b in at.button}
        assert f"trb_stop_{run.path.name}" not in keys
        assert f"trb_delete_{run.path.name}" in keys
    finally:
        worker.kill()
        worker.wait()


def write_finder(runs: Path, state: str = "done", steps: int = 40) -> RunFolder:
    run = RunFolder(new_run_dir("lrfind-quick-demo", runs))
    run.write_config(tiny_config(name="lrfind", batch_size=16, epochs=12))
    run.write_status(state=state, task="lr_find", step=steps if state == "done" else 5, total_steps=steps)
    if state == "done":
        lrs = [1e-6 * 10 ** (i / 5) for i in range(30)]
        losses = [1.0 - 0.5 / (1 + (1e-4 / lr) ** 2) + (2.0 if lr > 0.05 else 0) for lr in lrs]
        (run.path / "lr_find.json").write_text(json.dumps({"lr": lrs, "loss": losses, "suggested": 1e-4}))
    return run


def test_the_lr_finder_stays_open_keeps_its_batches_and_explains_its_reading(runs, monkeypatch):
    def fake_start_lr_find(config, runs_root=None, steps=100):
        run = write_finder(Path(runs_root), state="running", steps=steps)
        return run.path

    monkeypatch.setattr(jobs, "start_lr_find", fake_start_lr_find)
    at = open_page(PAGE)
    finder = next(e for e in at.expander if e.label.startswith("Learning-rate finder"))
    assert not finder.proto.expanded
    at.number_input(key="lab_lrf_steps").set_value(40)
    rerun(at)
    at.button(key="trb_lrfind").click()
    rerun(at)
    live = next(r for r in jobs.list_runs(runs) if r.task == "lr_find")
    RunFolder(live.path).write_status(state="done", step=40)  # it finishes
    lrs = [1e-6 * 10 ** (i / 5) for i in range(30)]
    losses = [1.0 - 0.5 / (1 + (1e-4 / lr) ** 2) + (2.0 if lr > 0.05 else 0) for lr in lrs]
    (live.path / "lr_find.json").write_text(json.dumps({"lr": lrs, "loss": losses, "suggested": 1e-4}))
    rerun(at)
    finder = next(e for e in at.expander if e.label.startswith("Learning-rate finder"))
    assert finder.proto.expanded, "the expander stays open when the finder finishes"
    summary = " ".join(m.value for m in at.markdown if live.path.name in m.value)
    assert "40 batches" in summary and "batch 16" in summary and "epochs" not in summary
    advice = " ".join(m.value for m in at.markdown if "Steepest descent" in m.value)
    assert "1.0e-04" in advice and "one-cycle" in advice and "The form's 3.0e-03" in advice
    at.button(key="trb_use_lr_bold").click()
    rerun(at)
    assert at.number_input(key="tr_lr").value > 1e-4  # the bold reading: a tenth of the lowest loss's rate

    again = open_page(PAGE)  # a reload: the batches of the last finder run, not 60
    assert again.number_input(key="lab_lrf_steps").value == 40


def test_runs_side_by_side_show_only_the_settings_that_differ(runs, trained_run):
    a = copy_run(trained_run, runs, "20260101-000000-tiny")
    b = copy_run(trained_run, runs, "20260102-000000-tiny-lr")
    RunFolder(b).write_config(RunFolder(a).config().replace(lr=5e-4, name="tiny-lr"))
    at = open_page(PAGE)
    assert at.multiselect(key="lab_compare").value == [b.name, a.name]
    table = at.dataframe[-1].value
    assert list(table["run"]) == [b.name, a.name]
    assert [c for c in table.columns if c not in ("run", "state", "best val NME")] == ["lr"]
    assert list(table["lr"]) == ["0.0005", "0.002"]
    loss = chart(at, "lab_compare_loss")
    at.slider(key="lab_smoothing").set_value(0.0)
    rerun(at)
    raw = chart(at, "lab_compare_loss")
    named = [t for t in raw["data"] if t.get("name") == b.name]
    assert named and named[0]["y"] != [t for t in loss["data"] if t.get("name") == b.name][0]["y"]
    at.toggle(key="lab_compare_all").set_value(True)
    rerun(at)
    assert "model" in at.dataframe[-1].value.columns


def test_a_run_can_start_from_a_checkpoint_of_the_same_model_and_head(runs, started):
    """Fine-tuning from the form: the Advanced section offers the checkpoints of the chosen model
    with the same kind of head, and the run gets the chosen one as init_from."""
    from tests.helpers import make_checkpoint

    for name, encoding in (("heat", "gaussian"), ("bins", "simcc")):
        run = RunFolder(runs / f"20260101-00000{len(name)}-{name}")
        run.path.mkdir()
        run.write_config(tiny_config(name=name, encoding=encoding))
        run.write_status(state="done", epoch=1)
        make_checkpoint(run.best_path, input_size=64, encoding=encoding)
    unet = RunFolder(runs / "20260101-000009-unet")
    unet.path.mkdir()
    unet.write_config(tiny_config(name="unet", model="unet_resnet18_small"))
    unet.write_status(state="done", epoch=1)
    make_checkpoint(unet.best_path, model="unet_resnet18_small", input_size=64)

    at = open_page(PAGE)
    assert at.selectbox(key="tr_model").value == "hrnet18_small"
    box = at.selectbox(key="tr_init_from")
    assert box.value == ""  # from scratch unless asked
    offered = [o for o in box.options if "heat" in o or "bins" in o or "unet" in o]
    assert len(offered) == 1 and "heat · best" in offered[0] and "68 points" in offered[0]
    path = str(runs / "20260101-000004-heat" / "best.pt")
    box.set_value(path)
    rerun(at)
    at.button(key="trb_start").click()
    rerun(at)
    assert started[0][1].init_from == path
    # the SimCC head gets the SimCC checkpoint only
    assert widget(at, "number_input", "tr_sigma").label == "Sigma σ (cells)"
    at.radio(key="tr_encoding").set_value("simcc")
    rerun(at)
    assert widget(at, "number_input", "tr_sigma").label == "Sigma σ (bins)"  # SimCC's σ is in bins
    offered = [o for o in at.selectbox(key="tr_init_from").options if "heat" in o or "bins" in o]
    assert len(offered) == 1 and "bins · best" in offered[0]
    assert at.selectbox(key="tr_init_from").value == ""  # the heatmap checkpoint no longer fits
