"""Batch prediction (lmkviz.batch, ``lmkviz predict`` on folders and videos): a broken file is
reported at the end without stopping the batch, one prediction per video frame, the files
written per image, the COCO results file."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from lmkviz.batch import BatchWriter, collect_inputs, count_items, predict_batch, result_record, video_frames
from lmkviz.cli import main
from lmkviz.inference import Predictor
from tests.helpers import make_checkpoint


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("ck") / "tiny.pt")


def write_video(path, frames: int = 5, size: int = 64) -> list:
    """An MJPG .avi whose frame i is a flat colour (RGB (40 i, 0, 200) and a white square); returns the RGB frames."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (size, size))
    assert writer.isOpened()
    rgb = []
    for i in range(frames):
        frame = np.zeros((size, size, 3), np.uint8)
        frame[:] = (40 * i, 0, 200)
        frame[20:40, 20 + i:40 + i] = 255
        rgb.append(frame)
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return rgb


def make_folder(root):
    root.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.jpg", "b.png"):
        Image.fromarray(rng.integers(0, 256, (80, 60, 3), dtype=np.uint8)).save(root / name)
    (root / "broken.jpg").write_text("this is no image")
    (root / "notes.txt").write_text("not an input")  # not a photo or video suffix: left alone
    write_video(root / "clip.avi", frames=3)
    return root


def test_video_frames_are_rgb_one_per_frame(tmp_path):
    expected = write_video(tmp_path / "v.avi", frames=5)
    frames = list(video_frames(tmp_path / "v.avi"))
    assert [i for i, _ in frames] == [0, 1, 2, 3, 4]
    for (_, got), want in zip(frames, expected):
        assert np.abs(got.astype(int) - want.astype(int)).mean() < 6  # JPEG-compressed, in RGB order
    assert [i for i, _ in video_frames(tmp_path / "v.avi", frame_step=2)] == [0, 2, 4]
    (tmp_path / "bad.avi").write_bytes(b"RIFF garbage")
    with pytest.raises(ValueError, match="cannot be opened as a video"):
        list(video_frames(tmp_path / "bad.avi"))


def test_a_video_gives_one_prediction_per_frame(tiny, tmp_path):
    write_video(tmp_path / "v.avi", frames=4)
    predictor = Predictor(tiny)
    inputs, failed = collect_inputs([tmp_path / "v.avi"])
    assert not failed and count_items(inputs) == 4
    results = list(predict_batch(inputs, predictor, ["argmax", "dark"]))
    assert [r.frame for r in results] == [0, 1, 2, 3] and all(r.ok for r in results)
    assert results[2].label.endswith("v.avi#2") and results[2].size == (64, 64)
    frame = dict(video_frames(tmp_path / "v.avi"))[2]  # the same frame predicted on its own
    direct = predictor.predict(frame, decoders=["argmax", "dark"])
    np.testing.assert_allclose(results[2].prediction.points["dark"], direct.points["dark"], atol=1e-4)
    record = result_record(results[2])
    assert record["format"] == "lmkviz-prediction" and len(record["points"]["dark"]) == 68
    assert record["image"]["frame"] == 2 and (record["image"]["width"], record["image"]["height"]) == (64, 64)


def test_predict_folder_with_a_broken_file_reports_it_and_writes_the_rest(tiny, tmp_path, capsys):
    folder = make_folder(tmp_path / "in")
    code = main(["predict", "--checkpoint", str(tiny), str(folder), str(tmp_path / "missing.jpg"),
                 "--out", str(tmp_path / "out"), "--coco", str(tmp_path / "results.json"),
                 "--decoders", "argmax", "dark", "--progress"])
    captured = capsys.readouterr()
    assert code == 1  # something failed; the batch went on
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["a.jpg.json", "b.png.json", "clip.avi.frame0.json", "clip.avi.frame1.json",
                       "clip.avi.frame2.json"]
    record = json.loads((tmp_path / "out" / "b.png.json").read_text())
    assert record["image"]["source"].endswith("b.png") and (record["image"]["width"], record["image"]["height"]) == (60, 80)
    assert set(record["points"]) == {"argmax", "dark"} and len(record["points"]["dark"]) == 68
    # the summary at the end names both failures with their reasons
    summary = captured.err[captured.err.index("input(s):") - 3:]
    assert "7 input(s): 5 predicted, 2 failed" in summary
    assert "broken.jpg" in summary and "not an image" in summary
    assert "missing.jpg: no such file or folder" in summary
    assert "predicting" in captured.err  # --progress: the bar, on stderr
    # COCO results: one entry per prediction, keypoints as 0-based pixel indices with the peak score
    coco = json.loads((tmp_path / "results.json").read_text())
    assert len(coco) == 5 and sorted(r["image_id"] for r in coco) == [1, 2, 3, 4, 5]
    entry = next(r for r in coco if r["file_name"].endswith("b.png"))
    kp = np.array(entry["keypoints"]).reshape(-1, 3)
    np.testing.assert_allclose(kp[:, :2] + 0.5, np.array(record["points"]["dark"]), atol=2e-3)
    np.testing.assert_allclose(kp[:, 2], [lm["confidence"] for lm in record["landmarks"]], atol=1e-4)
    assert entry["decoder"] == "dark" and entry["category_id"] == 1 and len(entry["bbox"]) == 4
    assert sorted(r.get("frame") for r in coco if "frame" in r) == [0, 1, 2]


def test_per_image_csv_and_printing_mode(tiny, tmp_path, capsys):
    folder = make_folder(tmp_path / "in")
    (folder / "broken.jpg").unlink()
    (folder / "clip.avi").unlink()
    assert main(["predict", "--checkpoint", str(tiny), str(folder), "--out", str(tmp_path / "csv"),
                 "--out-format", "csv", "--decoders", "argmax"]) == 0
    lines = (tmp_path / "csv" / "a.jpg.csv").read_text().splitlines()
    assert lines[0] == "decoder,landmark,name,x,y,confidence" and len(lines) == 1 + 68
    assert lines[37].startswith("argmax,36,right eye outer corner,")
    capsys.readouterr()
    assert main(["predict", "--checkpoint", str(tiny), str(folder), "--json", "--decoders", "argmax"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["image"]["source"].rsplit("/", 1)[-1] for r in out] == ["a.jpg", "b.png"]


def test_writer_names_are_unique(tmp_path):
    writer = BatchWriter(tmp_path / "o")
    from lmkviz.batch import BatchResult

    a, b = BatchResult(tmp_path / "x" / "p.jpg", "p.jpg"), BatchResult(tmp_path / "y" / "p.jpg", "p.jpg")
    assert writer._name(a) == "p.jpg.json" and writer._name(b) == "p.jpg-1.json"


def test_predict_with_an_exported_model(tiny, tmp_path, capsys):
    from lmkviz.export import export_checkpoint

    exported = export_checkpoint(tiny, "torchscript", out=tmp_path / "tiny.torchscript.pt").model_path
    folder = make_folder(tmp_path / "in")
    image = folder / "a.jpg"
    assert main(["predict", "--model", str(exported), str(image), "--json", "--decoders", "dark"]) == 0
    imported = json.loads(capsys.readouterr().out)
    assert main(["predict", "--checkpoint", str(tiny), str(image), "--json", "--decoders", "dark"]) == 0
    native = json.loads(capsys.readouterr().out)
    np.testing.assert_allclose(imported["points"]["dark"], native["points"]["dark"], atol=0.01)
    assert main(["predict", "--model", str(tmp_path / "nothing.onnx"), str(image)]) == 1
    assert "no such model file" in capsys.readouterr().err
