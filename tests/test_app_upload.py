"""AppTest: Upload a face reads photos robustly, finds the face, runs a checkpoint and offers downloads.

Uploads go through ``st.file_uploader`` (AppTest supports it: ``set_value((name, bytes,
mime))``); the download contents are read from the download buttons (the JSON one is the record
``lmkviz predict --json`` prints for the same image).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lmkviz.decoding import DECODERS
from lmkviz.runs import RunFolder
from tests.apptest import REPO_ROOT, AppTest, chart, open_page, st
from tests.helpers import exported_onnx, make_checkpoint, scripted_plain_module, tiny_config

PAGE = str(REPO_ROOT / "pages" / "5_Upload_a_face.py")


@pytest.fixture
def env(monkeypatch, tmp_path):
    import ui.common

    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setenv("LMKVIZ_RUNS", str(runs))
    monkeypatch.setattr(ui.common, "DEFAULT_CHECKPOINT", tmp_path / "not_shipped.pt")
    st.cache_data.clear()
    st.cache_resource.clear()
    return runs


@pytest.fixture
def checkpoint(env) -> Path:
    run = RunFolder(env / "20260101-000000-tiny")
    run.path.mkdir()
    run.write_config(tiny_config(name="tiny"))
    run.write_status(state="done")
    return make_checkpoint(run.best_path, input_size=64)


def encode(array: np.ndarray, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def face(size: int = 256) -> np.ndarray:
    from lmkviz.data.synthetic import render_face

    return render_face(3, size)[0]



def upload(at: AppTest, name: str, data: bytes, mime: str = "image/png") -> AppTest:
    at.radio(key="up_source").set_value("upload").run()
    at.file_uploader(key="up_file").set_value((name, data, mime))
    at.run()
    assert not at.exception, at.exception
    return at



def texts(elements) -> str:
    return " ".join(e.value for e in elements)


def test_example_without_checkpoint_shows_face_and_crop(env):
    at = open_page(PAGE)
    assert at.radio(key="up_source").value == "astronaut"
    assert "1 face found" in texts(at.caption)
    assert "No checkpoint to run" in texts(at.warning)
    photo = chart(at, "up_photo")
    assert len(photo["layout"]["shapes"]) == 2  # the detected face and the crop
    assert not at.get("download_button")


def test_example_with_checkpoint_overlays_landmarks_and_heatmaps(checkpoint):
    at = open_page(PAGE)
    photo = chart(at, "up_photo")
    names = [t.get("name") for t in photo["data"]]
    assert "argmax" in names and "DARK" in names and "quarter offset" not in names
    assert [a["text"] for a in chart(at, "up_grid")["layout"]["annotations"]] == [str(i) for i in range(68)]
    assert {b.label for b in at.get("download_button")} == {"Landmarks (JSON)", "Landmarks (CSV)",
                                                           "Picture with points (PNG)"}
    # decoders are toggled
    at.pills(key="up_decoders").set_value(["quarter"]).run()
    names = [t.get("name") for t in chart(at, "up_photo")["data"]]
    assert "quarter offset" in names and "DARK" not in names
    # the heatmap channel and opacity change the overlay
    before = chart(at, "up_overlay")["data"][1]
    at.selectbox(key="up_channel").set_value(36)
    at.slider(key="up_opacity").set_value(0.2).run()
    after = chart(at, "up_overlay")["data"][1]
    assert after["opacity"] == pytest.approx(0.2) and after["z"] != before["z"]


def test_crop_sliders_move_the_crop_and_the_points(checkpoint):
    at = open_page(PAGE)
    crop = chart(at, "up_photo")["layout"]["shapes"][1]
    dark = next(t for t in chart(at, "up_photo")["data"] if t.get("name") == "DARK")
    cx = next(s for s in at.slider if s.key.startswith("up_cx:"))
    cx.set_value(cx.value + 40).run()
    moved = chart(at, "up_photo")["layout"]["shapes"][1]
    assert moved["x0"] == pytest.approx(crop["x0"] + 40)
    assert next(t for t in chart(at, "up_photo")["data"] if t.get("name") == "DARK")["x"] != dark["x"]
    at.button(key="up_reset").click().run()
    assert chart(at, "up_photo")["layout"]["shapes"][1]["x0"] == pytest.approx(crop["x0"])


def test_upload_png_jpeg_and_webp(checkpoint):
    at = open_page(PAGE)
    for name, fmt, mime in (("face.png", "PNG", "image/png"), ("face.jpg", "JPEG", "image/jpeg"),
                            ("face.webp", "WEBP", "image/webp")):
        upload(at, name, encode(face(), fmt), mime)
        assert not at.error
        assert any(t.get("name") == "DARK" for t in chart(at, "up_photo")["data"]), name
        assert not at.info  # a plain RGB file needs no note


def test_bad_files_get_a_plain_message(env):
    at = open_page(PAGE)
    upload(at, "notes.png", b"this is not an image at all", "image/png")
    assert "not an image" in texts(at.error)
    assert not at.get("plotly_chart")
    data = encode(face(), "JPEG")
    upload(at, "broken.jpg", data[: len(data) // 3], "image/jpeg")
    assert "corrupt or truncated" in texts(at.error) or "cannot read" in texts(at.error)


def test_a_decompression_bomb_gets_a_plain_message(env):
    from tests.helpers import png_header_only

    at = open_page(PAGE)
    upload(at, "bomb.png", png_header_only(20000, 20000), "image/png")  # no exception (was PIL's DecompressionBombError)
    assert "bomb.png: too large" in texts(at.error)
    assert not at.get("plotly_chart")


def test_grey_rgba_rotated_and_huge_images_are_handled_and_said(checkpoint):
    at = open_page(PAGE)
    grey = face()[..., 0]
    upload(at, "grey.png", encode(grey), "image/png")
    assert "converted from L" in texts(at.info)
    rgba = np.dstack([face(), np.full((256, 256), 200, np.uint8)])
    upload(at, "rgba.png", encode(rgba), "image/png")
    assert "converted from RGBA" in texts(at.info)

    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: display rotated by 90 degrees
    upload(at, "phone.jpg", encode(face()[:, 32:224], "JPEG", exif=exif.tobytes()), "image/jpeg")
    assert "EXIF orientation" in texts(at.info)
    photo = chart(at, "up_photo")
    assert photo["layout"]["images"][0]["sizex"] == 256  # 192 wide x 256 high, shown rotated: 256 wide

    big = np.kron(face(300), np.ones((10, 10, 1), np.uint8))  # 3000 x 3000
    upload(at, "huge.png", encode(big), "image/png")
    assert "downscaled from 3000x3000 to 2048x2048" in texts(at.info)
    assert "original file (the photo was shown downscaled by 1.46×)" in texts(at.caption)  # 3000 / 2048
    assert any(t.get("name") == "DARK" for t in chart(at, "up_photo")["data"])


def test_no_face_found_offers_the_manual_crop(checkpoint):
    at = open_page(PAGE)
    flat = np.full((240, 320, 3), 128, np.uint8)
    upload(at, "wall.png", encode(flat), "image/png")
    assert "No face here: the face detector found none" in texts(at.warning)
    assert "The face detector found no face" in texts(at.caption)  # how to move the crop
    shapes = chart(at, "up_photo")["layout"]["shapes"]
    assert len(shapes) == 1  # no face box; the crop covers the whole photo
    assert shapes[0]["x1"] - shapes[0]["x0"] == pytest.approx(320)
    assert any(s.key.startswith("up_side:") for s in at.slider)


# ----------------------------------------------------------------------------- the download files


def test_downloads_are_in_original_pixels(checkpoint):
    from lmkviz.inference import Box, LoadedImage, Predictor
    from lmkviz.viz.upload import overlay_png
    from ui import upload

    image = face(256)
    predictor = Predictor(str(checkpoint))
    prediction = predictor.predict(image, crop=Box(20, 20, 236, 236))
    # the page works on a copy downscaled by 2: downloads must scale back
    loaded = LoadedImage(array=image, original_size=(512, 512), scale=0.5, notes=["downscaled"])
    record = upload.download_record(prediction, loaded, "face.png")
    data = json.loads(upload.landmarks_json(record))
    assert (data["format"], data["version"]) == ("lmkviz-prediction", 1)
    assert data["image"] == {"source": "face.png", "width": 512, "height": 512}
    assert set(data["points"]) == set(DECODERS) and len(data["landmarks"]) == 68
    assert data["points"]["dark"][10][0] == pytest.approx(prediction.points["dark"][10, 0] * 2, abs=1e-3)
    assert data["crop"] == {"x0": 40, "y0": 40, "x1": 472, "y1": 472}
    assert data["landmarks"][36]["name"] == "right eye outer corner"

    table = list(csv.DictReader(io.StringIO(upload.landmarks_csv(record).decode())))
    assert table[0].keys() == {"decoder", "landmark", "name", "x", "y", "confidence"} and len(table) == len(DECODERS) * 68
    first = next(r for r in table if r["decoder"] == "dark" and r["landmark"] == "10")
    assert float(first["x"]) == pytest.approx(prediction.points["dark"][10, 0] * 2, abs=1e-3)

    png = Image.open(io.BytesIO(overlay_png(image, {"dark": prediction.points["dark"]}, crop=prediction.crop)))
    assert png.size == (256, 256)
    x, y = prediction.points["dark"][10]
    drawn = np.asarray(png.convert("RGB")).astype(int)
    assert np.abs(drawn[int(y), int(x)] - image[int(y), int(x)]).sum() > 30  # a dot where the point is
    assert (drawn == (0xCC, 0x79, 0xA7)).all(axis=-1).sum() >= 68  # in DARK's colour


def test_the_json_download_is_the_record_lmkviz_predict_prints(checkpoint, tmp_path, monkeypatch):
    import os
    import subprocess
    import sys

    from ui import upload as glue

    offered = []  # the bytes the page hands to its JSON download button
    build = glue.landmarks_json
    monkeypatch.setattr(glue, "landmarks_json", lambda record: offered.append(build(record)) or offered[-1])
    at = open_page(PAGE)  # the astronaut example: a photo with a face to detect
    assert any(b.label == "Landmarks (JSON)" for b in at.get("download_button"))
    page = json.loads(offered[-1])
    (tmp_path / "astronaut.png").write_bytes(glue.example_image("astronaut"))
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    run = subprocess.run([sys.executable, "-m", "lmkviz", "predict", "--checkpoint", str(checkpoint), "astronaut.png",
                          "--json"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    cli = json.loads(run.stdout)

    def shape(value):
        """The structure of a JSON value: keys and types, lists by their first item and length."""
        if isinstance(value, dict):
            return {k: shape(v) for k, v in value.items()}
        if isinstance(value, list):
            return [len(value), shape(value[0]) if value else None]
        return type(value).__name__

    # notes say what happened to this image (the CLI detected the face itself, the page was given the crop)
    assert all(isinstance(n, str) for n in page.pop("notes") + cli.pop("notes"))
    assert shape(page) == shape(cli)
    assert (page["format"], page["version"]) == (cli["format"], cli["version"]) == ("lmkviz-prediction", 1)
    assert page["landmarks"] == cli["landmarks"] and page["checkpoint"] == cli["checkpoint"] == "best.pt"
    assert page["image"] == cli["image"] == {"source": "astronaut.png", "width": 512, "height": 512}
    assert set(page["face"]) == {"x0", "y0", "x1", "y1"}
    # the page starts from the crop the CLI uses (the detected face), so the points agree too
    assert page["face"] == cli["face"]
    assert page["crop"] == pytest.approx(cli["crop"], abs=0.01)
    assert np.allclose(page["points"]["dark"], cli["points"]["dark"], atol=0.05)


def test_camera_photo(checkpoint):
    at = open_page(PAGE)
    at.radio(key="up_source").set_value("camera").run()
    at.camera_input(key="up_camera").set_value(("shot.jpg", encode(face(), "JPEG"), "image/jpeg"))
    at.run()
    assert not at.exception, at.exception
    assert any(t.get("name") == "DARK" for t in chart(at, "up_photo")["data"])
    assert "1 face found" in texts(at.caption)


# ----------------------------------------------------------------------------- what to trust (issue 14)


@pytest.fixture
def shipped(env):
    """The shipped model as the only checkpoint (its peaks are calibrated)."""
    import ui.common
    from lmkviz.paths import DEFAULT_CHECKPOINT

    assert DEFAULT_CHECKPOINT.is_file()
    ui.common.DEFAULT_CHECKPOINT = DEFAULT_CHECKPOINT  # env's monkeypatch restores it afterwards
    return DEFAULT_CHECKPOINT


def marker_levels(figure: dict, name: str) -> np.ndarray:
    """The confidence level (0 sure, 1 unsure, 2 guess) of every point of decoder ``name``."""
    trace = next(t for t in figure["data"] if t.get("name") == name and t.get("x") is not None
                 and t["marker"].get("colorscale"))
    return array(trace["marker"]["color"])


def array(data) -> np.ndarray:
    import base64

    if isinstance(data, dict) and "bdata" in data:
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"])
    return np.asarray(data, dtype=float)


def test_a_face_is_confident_and_a_coffee_cup_is_flagged(shipped):
    from skimage import data

    at = open_page(PAGE)  # the astronaut
    assert "The network is confident" in texts(at.success) and not at.warning
    photo = chart(at, "up_photo")
    assert (marker_levels(photo, "DARK") == 0).mean() > 0.85  # green: sure
    legend = [t["name"] for t in photo["data"] if t.get("meta") == "confidence level"]  # the colours explained
    assert legend == ["sure (heatmap peak ≥ 0.70)", "unsure (0.50 – 0.70)", "guess (peak < 0.50)"]

    upload(at, "coffee.png", encode(data.coffee()))
    assert not at.success
    assert "No face here" in texts(at.warning) and "The points are guesses" in texts(at.warning)
    levels = marker_levels(chart(at, "up_photo"), "DARK")
    assert len(levels) == 68 and (levels == 0).sum() < 10 and (levels == 2).mean() > 0.5  # red: guesses
    # by decoder: one colour per decoder again
    at.segmented_control(key="up_colour_by").set_value("decoder").run()
    dark = next(t for t in chart(at, "up_photo")["data"] if t.get("name") == "DARK" and t.get("x") is not None)
    assert dark["marker"]["color"] == "#CC79A7" and dark["marker"]["line"]["color"] == "white"


def test_several_faces_are_listed_largest_first_and_each_has_its_crop(checkpoint):
    canvas = np.full((300, 620, 3), 120, np.uint8)
    canvas[20:276, 10:266] = face_seed(2, 256)  # seeds the Haar cascade finds
    canvas[60:252, 360:552] = face_seed(4, 192)
    at = open_page(PAGE)
    upload(at, "two.png", encode(canvas))
    picker = next(s for s in at.selectbox if s.key.startswith("up_face:"))
    assert len(picker.options) == 2 and picker.options[0].startswith("face 1 of 2 · largest")
    first = chart(at, "up_photo")
    assert [a["text"].strip() for a in first["layout"]["annotations"]] == ["1", "2"]
    crop = first["layout"]["shapes"][-1]
    assert crop["x1"] < 300  # around the largest face, on the left
    picker.set_value(1).run()
    second = chart(at, "up_photo")["layout"]["shapes"][-1]
    assert second["x0"] > 300  # the crop moved to the other face
    dark = next(t for t in chart(at, "up_photo")["data"] if t.get("name") == "DARK" and t.get("x") is not None)
    assert array(dark["x"]).mean() > 300  # and so did the landmarks


def test_stage_timings_are_shown(checkpoint):
    at = open_page(PAGE)
    line = next(c.value for c in at.caption if "network" in c.value and " ms" in c.value)
    for stage in ("detect", "crop", "network", "decode", "total"):
        assert f"{stage} " in line
    assert "CPU" in line


def test_the_crop_outside_the_photo_is_black_as_the_network_sees_it(checkpoint):
    at = open_page(PAGE)
    side = next(s for s in at.slider if s.key.startswith("up_side:"))
    side.set_value(side.max).run()  # a crop much larger than the photo
    photo = chart(at, "up_photo")
    below, picture = photo["layout"]["images"][:2]
    crop = photo["layout"]["shapes"][-1]
    assert (below["x"], below["y"], below["sizex"]) == pytest.approx((crop["x0"], crop["y0"], crop["x1"] - crop["x0"]))
    import base64

    pixel = Image.open(io.BytesIO(base64.b64decode(below["source"].split(",", 1)[1])))
    assert pixel.convert("RGB").getpixel((0, 0)) == (0, 0, 0)  # black, under the photo
    assert "black where it leaves the photo" in texts(at.caption)


def face_seed(seed: int, size: int) -> np.ndarray:
    from lmkviz.data.synthetic import render_face

    return render_face(seed, size)[0]


def test_broken_run_folders_do_not_hide_the_good_checkpoint(checkpoint):
    from tests.helpers import make_broken_runs

    make_broken_runs(checkpoint.parent.parent)
    at = open_page(PAGE)
    photo = chart(at, "up_photo")
    assert "DARK" in [t.get("name") for t in photo["data"]]  # the good run's checkpoint ran


# ----------------------------------------------------------------------------- your own model (issue 16)


def overlay_map(at: AppTest) -> np.ndarray:
    """The (h, w) heatmap drawn over the crop (the landmark picked on the page)."""
    z = next(t for t in chart(at, "up_overlay")["data"] if t.get("type") == "heatmap")["z"]
    if isinstance(z, dict):
        return array(z).reshape([int(v) for v in str(z["shape"]).split(",")])
    return np.asarray(z, dtype=float)


def heatmaps_of(at: AppTest, channels=(0, 36, 57)) -> np.ndarray:
    """The heatmaps of some landmarks, as the page draws them (landmark picked in turn)."""
    maps = []
    for channel in channels:
        at.selectbox(key="up_channel").set_value(channel).run()
        maps.append(overlay_map(at))
    return np.stack(maps)


def drawn_points(figure: dict, name: str = "DARK") -> np.ndarray:
    trace = next(t for t in figure["data"] if t.get("name") == name and t.get("x") is not None)
    return np.stack([array(trace["x"]), array(trace["y"])], axis=1)


def use_model(at: AppTest, model: Path, sidecar: Path | None = None) -> AppTest:
    at.segmented_control(key="up_model").set_value("imported").run()
    at.file_uploader(key="up_model_file").set_value((model.name, model.read_bytes(), "application/octet-stream"))
    if sidecar is not None:
        at.file_uploader(key="up_model_sidecar").set_value((sidecar.name, sidecar.read_bytes(), "application/json"))
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def models_folder(env, tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("LMKVIZ_MODELS", str(tmp_path / "uploaded"))
    return tmp_path / "uploaded"


def test_an_onnx_model_exported_by_lmkviz_shows_the_checkpoints_heatmaps(models_folder, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    checkpoint, model, sidecar = exported_onnx(tmp_path / "export")
    run = RunFolder(models_folder.parent / "runs" / "20260101-000000-tiny")  # the same network as a checkpoint
    run.path.mkdir()
    run.write_config(tiny_config(name="tiny"))
    run.write_status(state="done")
    run.best_path.write_bytes(checkpoint.read_bytes())
    at = open_page(PAGE)
    reference_maps, reference_points = heatmaps_of(at), drawn_points(chart(at, "up_photo"))

    use_model(at, model, sidecar)
    assert not at.error
    assert any("tiny.onnx (onnx)" in c.value for c in at.caption)  # the model's description
    maps = heatmaps_of(at)
    assert maps.shape == reference_maps.shape == (3, 16, 16) and np.ptp(maps) > 1e-3
    assert np.abs(maps - reference_maps).max() < 1e-3  # the checkpoint's heatmaps, through onnxruntime
    assert np.abs(drawn_points(chart(at, "up_photo")) - reference_points).max() < 0.05  # all 68 points
    assert chart(at, "up_grid")["layout"]["images"]  # the grid of every heatmap
    assert [p.parent.parent for p in models_folder.glob("*/tiny.onnx")] == [models_folder]


def test_a_torchscript_module_without_sidecar_runs_with_the_forms_settings(models_folder, tmp_path):
    from lmkviz.imported import ModelSettings, load_model
    from lmkviz.inference import Box
    from tests.helpers import PLAIN_MEAN, PLAIN_STD

    path = scripted_plain_module(tmp_path / "plain")
    at = use_model(open_page(PAGE), path)
    assert "Use these settings" in [b.label for b in at.button]
    assert not [c for c in at.get("plotly_chart") if c.proto.id.endswith("up_overlay")]  # nothing before the form
    at.number_input(key="up_mf_h").set_value(64)
    at.number_input(key="up_mf_w").set_value(64)
    at.radio(key="up_mf_order").set_value("BGR")
    at.selectbox(key="up_mf_range").set_value("0, 255")
    at.text_input(key="up_mf_mean").set_value(", ".join(map(str, PLAIN_MEAN)))
    at.text_input(key="up_mf_std").set_value(", ".join(map(str, PLAIN_STD)))
    next(b for b in at.button if b.label == "Use these settings").click()
    at.run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    maps = heatmaps_of(at)
    crop = chart(at, "up_photo")["layout"]["shapes"][-1]
    from skimage import data

    expected = load_model(path, settings=ModelSettings(
        input_size=(64, 64), channel_order="BGR", value_range=(0, 255), mean=PLAIN_MEAN, std=PLAIN_STD,
        num_points=68)).predict(data.astronaut(), crop=Box(crop["x0"], crop["y0"], crop["x1"], crop["y1"]))
    assert maps.shape == (3, 16, 16)
    assert np.abs(maps - expected.heatmaps[[0, 36, 57]]).max() < 1e-4  # BGR, 0-255, mean and std applied as typed
    assert np.ptp(maps) > 1e-3


def test_a_wrong_model_file_gets_a_plain_message(models_folder):
    at = open_page(PAGE)
    at.segmented_control(key="up_model").set_value("imported").run()
    at.file_uploader(key="up_model_file").set_value(("model.onnx", b"not a network", "application/octet-stream"))
    at.file_uploader(key="up_model_sidecar").set_value(("model.onnx.json", b"{oops", "application/json"))
    at.run()
    assert not at.exception
    assert "the sidecar is not valid JSON" in texts(at.error)


# ----------------------------------------------------------------------------- shareable view (issue 15)


def test_a_link_restores_the_view(checkpoint):
    at = AppTest.from_file(PAGE, default_timeout=180)
    for name, value in {"img": "synthetic", "dec": "argmax,softargmax", "colour": "decoder", "zoom": "0",
                        "lmk": "30", "opacity": "0.35", "ckpt": str(checkpoint)}.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception
    assert at.radio(key="up_source").value == "synthetic"
    assert list(at.pills(key="up_decoders").value) == ["argmax", "softargmax"]
    assert at.segmented_control(key="up_colour_by").value == "decoder"
    assert at.toggle(key="up_zoom").value is False
    assert at.selectbox(key="up_channel").value == 30 and at.slider(key="up_opacity").value == 0.35
    names = [t.get("name") for t in chart(at, "up_photo")["data"] if t.get("x") is not None]
    assert "argmax" in names and "DARK" not in names
    # and the address follows the widgets
    at.selectbox(key="up_channel").set_value(12).run()
    assert at.query_params["lmk"] == "12" and at.query_params["img"] == "synthetic"
    assert "lmk=12" in at.code[0].value


def test_a_link_with_values_the_page_does_not_offer_is_ignored(checkpoint):
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.query_params["ckpt"] = "/etc/passwd"
    at.query_params["lmk"] = "999"
    at.query_params["img"] = "nothing"
    at.run()
    assert not at.exception
    assert at.radio(key="up_source").value == "astronaut" and at.selectbox(key="up_channel").value == 0
    assert "ckpt" in texts(at.caption) and "img" in texts(at.caption)


def test_a_simcc_checkpoint_draws_its_points_and_decoders(env):
    from lmkviz.decoding import DECODER_LABELS, VECTOR_DECODERS

    run = RunFolder(env / "20260101-000000-simcc")
    run.path.mkdir()
    run.write_config(tiny_config(name="simcc", encoding="simcc"))
    run.write_status(state="done")
    make_checkpoint(run.best_path, input_size=64, encoding="simcc")
    at = open_page(PAGE)
    assert not at.error
    pills = at.pills(key="up_decoders")
    assert pills.options == [DECODER_LABELS.get(m, m) for m in VECTOR_DECODERS]
    assert list(pills.value) and set(pills.value) <= set(VECTOR_DECODERS)
    names = [t.get("name") for t in chart(at, "up_photo")["data"] if t.get("x") is not None]
    assert any(DECODER_LABELS.get(m, m) in names for m in pills.value)
