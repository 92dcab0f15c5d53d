import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lmkviz.data.synthetic import render_face
from lmkviz.decoding import DECODERS
from lmkviz.evaluation import evaluate
from lmkviz.inference import Box, Predictor, crop_from_face, crop_from_points, crop_image, detect_faces, load_image
from tests.helpers import make_checkpoint

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("ck") / "tiny.pt")


def png_bytes(array, mode=None, **save):
    buf = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buf, format="PNG", **save)
    return buf.getvalue()


# ----------------------------------------------------------------------------- load_image

def test_load_image_rgb_grey_rgba_and_16_bit():
    rgb = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    assert np.array_equal(load_image(png_bytes(rgb)).array, rgb)
    grey = load_image(png_bytes(rgb[..., 0]))
    assert grey.array.shape == (20, 30, 3) and np.array_equal(grey.array[..., 1], rgb[..., 0])
    rgba = np.dstack([rgb, np.zeros((20, 30), np.uint8)])  # fully transparent -> white
    out = load_image(png_bytes(rgba))
    assert out.array.shape == (20, 30, 3) and (out.array == 255).all() and any("RGBA" in n for n in out.notes)
    deep = (np.arange(20 * 30, dtype=np.uint16).reshape(20, 30) * 100)
    im = Image.fromarray(deep)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    out16 = load_image(buf.getvalue())
    assert out16.array.dtype == np.uint8 and out16.array.max() > 200  # scaled, not clipped to 255 garbage


def test_load_image_respects_exif_orientation():
    rgb = np.zeros((20, 40, 3), np.uint8)
    rgb[:, :10] = 255  # white on the left of the stored pixels
    im = Image.fromarray(rgb)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    buf = io.BytesIO()
    im.save(buf, format="JPEG", exif=exif.tobytes(), quality=95)
    out = load_image(buf.getvalue())
    assert out.array.shape == (40, 20, 3) and out.original_size == (40, 20)
    assert out.array[:10, :, 0].mean() > 200  # the white band is now at the top
    assert any("EXIF" in n for n in out.notes)
    upright = load_image(png_bytes(rgb))  # no EXIF at all: nothing rotated, nothing said
    assert upright.array.shape == (20, 40, 3) and not any("EXIF" in n for n in upright.notes)
    exif[0x0112] = 1
    buf = io.BytesIO()
    im.save(buf, format="JPEG", exif=exif.tobytes(), quality=95)
    assert not any("EXIF" in n for n in load_image(buf.getvalue()).notes)


def test_huge_images_are_downscaled_and_said_so():
    big = np.full((3000, 5000, 3), 120, np.uint8)
    out = load_image(png_bytes(big), max_side=2048)
    assert max(out.array.shape[:2]) == 2048 and out.original_size == (3000, 5000)
    assert out.scale == pytest.approx(2048 / 5000) and any("downscaled" in n for n in out.notes)


@pytest.mark.parametrize("data,phrase", [
    (b"", "empty"),
    (b"%PDF-1.4 not an image", "not an image"),
    (png_bytes(np.zeros((50, 50, 3), np.uint8))[:60], "corrupt or truncated"),
])
def test_bad_uploads_are_clear_errors(data, phrase):
    with pytest.raises(ValueError, match=phrase):
        load_image(data, name="upload.png")


def test_absurd_sizes_are_refused(monkeypatch):
    from lmkviz import images

    monkeypatch.setattr(images, "MAX_PIXELS", 100)
    with pytest.raises(ValueError, match="too large"):
        load_image(png_bytes(np.zeros((20, 20, 3), np.uint8)))


# ----------------------------------------------------------------------------- geometry

def test_crop_image_is_exact_in_the_continuous_convention():
    img = np.zeros((100, 120, 3), np.uint8)
    img[40, 60] = 255  # pixel centre (60.5, 40.5)
    crop = crop_image(img, Box(50, 30, 70, 50), 20)  # scale 1: the pixel lands at (10, 10)
    assert tuple(np.argwhere(crop[..., 0] == 255)[0]) == (10, 10)
    outside = crop_image(img, Box(-50, -50, 10, 10), 30)  # mostly outside: black padding
    assert outside[:20, :20].max() == 0


def test_crop_from_points_matches_dataset_framing():
    pts = np.array([[10.0, 20.0], [50.0, 80.0]])  # box 40 x 60 -> side 1.7 * 60
    box = crop_from_points(pts)
    assert box.width == pytest.approx(102) and box.centre == pytest.approx((30, 50))


def test_detector_finds_no_face_in_noise_and_returns_boxes_in_image_pixels():
    noise = np.random.default_rng(1).integers(0, 255, (200, 300, 3), dtype=np.uint8)
    assert detect_faces(noise) == [] or all(0 <= b.x0 < b.x1 <= 300 for b in detect_faces(noise))


# ----------------------------------------------------------------------------- predictor

def test_predictor_maps_points_back_to_image_pixels(tiny_ckpt):
    image, _ = render_face(3, size=256)
    pred = Predictor(tiny_ckpt)
    crop = Box(40, 30, 200, 190)
    out = pred.predict(image, crop=crop)
    assert set(out.points) == set(DECODERS)
    assert out.heatmaps.shape == (68, 16, 16) and out.crop_image.shape == (64, 64, 3)
    # argmax points are cell centres of the 16x16 map, mapped into the 160 px crop
    argmax = out.points["argmax"]
    cell = (argmax - [crop.x0, crop.y0]) / (crop.width / 16) - 0.5
    assert np.allclose(cell, np.round(cell), atol=1e-4)
    assert (argmax[:, 0] >= crop.x0).all() and (argmax[:, 0] <= crop.x1).all()
    d = json.loads(json.dumps(out.to_dict(source="face.png")))
    assert d["crop"] == {"x0": 40.0, "y0": 30.0, "x1": 200.0, "y1": 190.0}
    assert d["image"] == {"source": "face.png", "width": 256, "height": 256}
    assert (d["format"], d["version"]) == ("lmkviz-prediction", 1) and d["checkpoint"] == "tiny.pt"
    assert d["points"]["dark"][10] == pytest.approx(out.points["dark"][10].tolist(), abs=1e-3)
    assert d["landmarks"][36] == {"index": 36, "name": "right eye outer corner",
                                  "confidence": pytest.approx(float(out.confidence[36]), abs=1e-4)}
    # the points in the network input's pixels, through the crop box
    assert out.crop_points("argmax")[10] == pytest.approx((argmax[10] - [40, 30]) * 64 / 160, abs=1e-4)


def test_predictor_uses_whole_image_with_a_note_when_no_face(tiny_ckpt):
    out = Predictor(tiny_ckpt).predict(np.full((90, 120, 3), 128, np.uint8))
    assert out.face is None and any("no face" in n for n in out.notes)
    assert out.crop.width == 120 and out.crop.centre == (60, 45)
    assert out.to_dict()["face"] is None and out.image_size == (90, 120)


def test_box_owns_its_crop_transform_both_ways():
    box = Box(10, -20, 110, 80)  # 100 px square, partly above the image
    points = np.array([[10, -20], [60, 30], [110, 80], [35.5, 5.25]])
    inside = box.to_crop(points, 64)
    assert inside.tolist() == [[0, 0], [32, 32], [64, 64], [16.32, 16.16]]
    assert np.allclose(box.from_crop(inside, 64), points)
    assert box.to_crop(points, (50, 200))[1].tolist() == [100, 25]  # (H, W) = (50, 200): x * 2, y / 2
    assert Box.square(60, 30, 100) == box


def test_crop_pixels_sample_the_image_where_to_crop_says():
    image = np.zeros((120, 160, 3), np.uint8)
    image[40:44, 100:104] = 255  # a bright 4 x 4 block centred on (102, 42)
    box = Box(70, 10, 150, 90)
    patch = crop_image(image, box, 40)  # 2 image px per crop px
    x, y = box.to_crop([[102, 42]], 40)[0]
    assert (x, y) == (16, 16)
    assert patch[int(y) - 1: int(y) + 1, int(x) - 1: int(x) + 1].min() == 255
    assert patch[int(y) + 3, int(x) + 3].max() == 0


def test_crop_limits_and_the_starting_crop():
    from lmkviz.inference import crop_limits, initial_crop

    limits = crop_limits((200, 400, 3))
    assert limits.x == (-100, 500) and limits.y == (-50, 250) and limits.side == (16, 800)
    assert initial_crop((200, 400, 3), []) == Box(0, -100, 400, 300)  # the whole image, centred
    face = Box(100, 50, 160, 110)
    assert initial_crop((200, 400, 3), [face, Box(0, 0, 10, 10)]).centre == crop_from_face(face).centre
    clamped = limits.clamp(Box.square(-300, 100, 2000))
    assert clamped.centre == (-100, 100) and clamped.width == 800
    assert limits.clamp(Box.square(50, 60, 4)).width == 16


def test_to_original_scales_every_coordinate_back(tiny_ckpt):
    from lmkviz.inference import LoadedImage

    image, _ = render_face(3, size=256)
    out = Predictor(tiny_ckpt).predict(image, crop=Box(20, 20, 236, 236))
    loaded = LoadedImage(array=image, original_size=(512, 512), scale=0.5, notes=["downscaled"])
    big = out.to_original(loaded)
    assert big.points["dark"] == pytest.approx(out.points["dark"] * 2, abs=1e-3)
    assert big.crop == Box(40, 40, 472, 472) and big.image_size == (512, 512)
    assert big.notes[0] == "downscaled" and loaded.downscaled_by == 2
    assert np.array_equal(big.heatmaps, out.heatmaps)
    assert out.points["dark"][0, 0] < 256  # the original object is unchanged


def test_flip_test_averages_mirrored_heatmaps(tiny_ckpt):
    plain, flip = Predictor(tiny_ckpt), Predictor(tiny_ckpt, flip_test=True)
    x = torch.rand(1, 3, 64, 64)
    a, b = plain.heatmaps(x), flip.heatmaps(x)
    assert not torch.allclose(a, b)
    # the flip-averaged maps of a mirrored image are the mirrored maps (permuted)
    from lmkviz.decoding import flip_heatmaps

    c = flip.heatmaps(x.flip(-1))
    torch.testing.assert_close(flip_heatmaps(c, flip.flip_perm), b, atol=1e-5, rtol=1e-4)


def test_evaluate_on_a_lapa_folder(tiny_ckpt, make_lapa_folder):
    folder = make_lapa_folder(n_per_split=5, bad_files=False)
    result = evaluate(tiny_ckpt, folder.root, "test")
    s = result.summary()
    assert s["n"] == 5 and s["points"] == 68 and set(s["nme"]) == set(DECODERS)
    for m, e in result.nme.items():
        assert s["nme"][m] == pytest.approx(100 * e.mean(), abs=1e-4)
        assert s["fr10"][m] == pytest.approx(100 * (e > 0.10).mean(), abs=1e-4)
        assert s["auc10"][m] == pytest.approx(100 * np.clip(1 - e / 0.10, 0, None).mean(), abs=1e-4)
    # NME per image recomputed by hand from the returned predictions
    e = np.linalg.norm(result.pred["dark"] - result.target, axis=-1).mean(1) / result.norm
    assert np.allclose(e, result.nme["dark"])
    assert result.per_landmark()["dark"].shape == (68,)


def test_evaluate_rejects_a_dataset_with_another_point_count(tiny_ckpt, make_lapa_folder):
    folder = make_lapa_folder(num_points=106, bad_files=False)
    with pytest.raises(ValueError, match="106 points per face"):
        evaluate(tiny_ckpt, folder.root, "test")


# ----------------------------------------------------------------------------- CLI

def cli(*args):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "lmkviz", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_cli_evaluate_json(tiny_ckpt, make_lapa_folder):
    folder = make_lapa_folder(n_per_split=4, bad_files=False)
    r = cli("evaluate", "--checkpoint", tiny_ckpt, "--data", folder.root, "--split", "test", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {"n", "points", "nme", "fr10", "auc10"} and out["n"] == 4 and out["points"] == 68
    assert set(out["nme"]) == set(out["fr10"]) == set(out["auc10"]) == set(DECODERS)
    assert out == evaluate(tiny_ckpt, folder.root, "test").summary()  # the library's numbers


def test_cli_predict_json_and_bad_inputs(tiny_ckpt, tmp_path):
    image, _ = render_face(5, size=200)
    Image.fromarray(image).save(tmp_path / "face.jpg")
    (tmp_path / "notes.jpg").write_text("not an image")
    r = cli("predict", "--checkpoint", tiny_ckpt, tmp_path / "face.jpg", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert len(out["points"]["dark"]) == 68 and (out["image"]["width"], out["image"]["height"]) == (200, 200)
    # the same record as the library's (the Upload page's download is built by the same function)
    loaded = load_image(tmp_path / "face.jpg")
    expected = Predictor(tiny_ckpt).predict(loaded.array).to_original(loaded).to_dict(source=out["image"]["source"])
    assert out.keys() == expected.keys() and out["landmarks"] == expected["landmarks"]
    assert out["crop"] == pytest.approx(expected["crop"]) and out["version"] == 1
    assert np.allclose(out["points"]["dark"], expected["points"]["dark"], atol=1e-3)
    r = cli("predict", "--checkpoint", tiny_ckpt, tmp_path / "notes.jpg")
    assert r.returncode == 1 and "not an image" in r.stderr and "Traceback" not in r.stderr
    r = cli("predict", "--checkpoint", tmp_path / "notes.jpg", tmp_path / "face.jpg")
    assert r.returncode == 1 and "cannot be read as a checkpoint" in r.stderr and "Traceback" not in r.stderr


# ----------------------------------------------------------------------------- confidence and timings

def test_point_levels_follow_the_documented_thresholds():
    from lmkviz.inference import POINT_GUESS, POINT_SURE, point_levels

    peaks = [1.0, POINT_SURE, POINT_SURE - 1e-6, POINT_GUESS, POINT_GUESS - 1e-6, 0.0, float("nan")]
    assert point_levels(peaks).tolist() == [0, 0, 1, 1, 2, 2, 2]


def test_assess_levels_and_counts():
    from lmkviz.inference import IMAGE_NO_FACE, IMAGE_SURE, assess

    sure = assess(np.r_[np.full(60, 0.9), np.full(5, 0.6), np.full(3, 0.2)], face_found=True)
    assert sure.level == "confident" and sure.ok and sure.median_peak == pytest.approx(0.9)
    assert sure.counts == {"sure": 60, "unsure": 5, "guess": 3} and sure.total == 68
    assert "8 of 68 points are doubtful" in sure.headline()
    assert assess(np.full(68, IMAGE_SURE), True).level == "confident"
    assert assess(np.full(68, IMAGE_SURE - 1e-6), True).level == "unsure"
    assert assess(np.full(68, IMAGE_NO_FACE), True).level == "unsure"
    nothing = assess(np.full(68, IMAGE_NO_FACE - 1e-6), face_found=False)
    assert nothing.level == "no_face" and not nothing.ok
    assert nothing.headline().startswith("No face here")
    assert assess(np.full(68, 0.1), face_found=True).headline().startswith("The face detector found a face")
    assert assess(np.full(68, np.nan), True).level == "no_face"  # no peak at all


def test_predict_times_each_stage(tiny_ckpt):
    image = render_face(3, 256)[0]
    predictor = Predictor(tiny_ckpt)
    detected = predictor.predict(image)
    t = detected.timings
    assert t.detect is not None and t.detect > 0  # the face search ran
    assert min(t.crop, t.network, t.decode) > 0
    assert t.total == pytest.approx(t.detect + t.crop + t.network + t.decode)
    assert list(t.as_dict()) == ["detect", "crop", "network", "decode", "total"]
    given = predictor.predict(image, crop=Box(20, 20, 236, 236))
    assert given.timings.detect is None and "detect" not in given.timings.as_dict()
    assert given.timings.with_detect(12.0).total == pytest.approx(given.timings.total + 12.0)
    assert given.timings.text().startswith("crop ") and "total" in given.timings.text()


def test_detect_faces_timed_finds_faces_largest_first():
    from lmkviz.inference import detect_faces_timed, face_label

    canvas = np.full((300, 620, 3), 120, np.uint8)
    canvas[20:276, 10:266] = render_face(2, 256)[0]  # seeds whose faces the Haar cascade finds
    canvas[60:252, 360:552] = render_face(4, 192)[0]
    faces, ms = detect_faces_timed(canvas)
    assert len(faces) == 2 and ms > 0
    assert faces[0].width > faces[1].width and faces[0].x0 < 266 < faces[1].x0
    assert face_label(faces, 0).startswith("face 1 of 2 · largest · ")
    assert face_label(faces, 1).startswith("face 2 of 2 · ")


def test_the_shipped_model_is_confident_on_a_face_and_not_on_a_coffee_cup():
    from skimage import data

    predictor = Predictor("default")
    face = predictor.predict(data.astronaut()).quality()
    assert face.level == "confident" and face.face_found
    assert face.counts["sure"] >= 60
    cup = predictor.predict(data.coffee())
    quality = cup.quality()
    assert cup.face is None and quality.level == "no_face" and not quality.ok
    assert quality.counts["sure"] < 10  # most of the 68 points on the cup are flagged
    assert quality.headline().startswith("No face here")


def test_predictor_decoders_come_from_the_codec(tiny_ckpt):
    predictor = Predictor(tiny_ckpt)
    assert predictor.decoders == tuple(predictor.codec.decoders)
    prediction = predictor.predict(render_face(3, 128)[0], detect=False)
    assert tuple(prediction.points) == predictor.decoders
