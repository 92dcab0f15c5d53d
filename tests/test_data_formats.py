"""Annotation formats in and out (lmkviz.data.formats): .pts, COCO keypoints (and COCO-WholeBody's
face points), CSV; their coordinate conventions, round trips through the LaPa layout, skip
reports, links, discovery, and ``lmkviz data convert``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lmkviz.cli import main
from lmkviz.data import LandmarkDataset, check_dataset, discover_datasets, open_split
from lmkviz.data.folder import FolderSplit
from lmkviz.data.formats import (
    FORMATS,
    WRITABLE,
    convert,
    detect_format,
    open_folder,
    pts_text,
    read_pts,
)

SECRET = "hunter2-secret-token"  # written into bad files: no message may echo it


def _image(path: Path, h: int = 40, w: int = 50, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)


def _points(seed: int, k: int = 68, low: float = 1.0, high: float = 39.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, (k, 2)).round(3)


def _pts_file(path: Path, values: np.ndarray) -> None:
    path.write_text("version: 1\nn_points:  %d\n{\n" % len(values)
                    + "".join(f"{x:.3f} {y:.3f}\n" for x, y in values) + "}\n")


def make_pts(root: Path, flat: bool = False) -> dict:
    """A 300-W-like folder: 3 train faces (2 when flat, as split test); returns {name: pts values}."""
    folder = root if flat else root / "train"
    folder.mkdir(parents=True)
    values = {}
    for i in range(2 if flat else 3):
        name = f"face{i}"
        _image(folder / f"{name}.{'png' if i else 'jpg'}", seed=i)
        values[name] = _points(i)
        _pts_file(folder / f"{name}.pts", values[name])
    return values


def make_coco(root: Path) -> dict:
    """A COCO-WholeBody-like file: 17 body points + 68 face_kpts per person; image 1 has one face,
    image 2 two faces, image 3 a person whose face is not annotated (face_valid false) and a
    face with 3 unlabelled points (v = 0). Returns {name: (68, 3) x, y, v as written}."""
    (root / "val").mkdir(parents=True)
    images, annotations, faces = [], [], {}
    for image_id, file in ((1, "000001.jpg"), (2, "000002.jpg"), (3, "000003.png")):
        _image(root / "val" / file, seed=image_id)
        images.append({"id": image_id, "file_name": file, "width": 50, "height": 40})
    specs = [(10, 1, True, 0), (20, 2, True, 0), (21, 2, True, 0), (30, 3, False, 0), (31, 3, True, 3)]
    for ann_id, image_id, valid, hidden in specs:
        xy = _points(ann_id, low=0.0, high=38.0)
        v = np.full(68, 2.0)
        v[:hidden] = 0
        xy[:hidden] = 0
        face = np.concatenate([xy, v[:, None]], axis=1)
        body = np.zeros((17, 3))
        annotations.append({"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                            "keypoints": body.ravel().tolist(),
                            "face_kpts": face.ravel().tolist() if valid else [0.0] * 204,
                            "face_valid": valid, "face_box": [0, 0, 10, 10]})
        if valid:
            stem = Path(next(i["file_name"] for i in images if i["id"] == image_id)).stem
            faces[f"{stem}_{ann_id}" if image_id == 2 else stem] = face  # two faces on image 2
    (root / "val.json").write_text(json.dumps({"images": images, "annotations": annotations,
                                               "categories": [{"id": 1, "name": "person"}]}))
    return faces


def make_csv(root: Path) -> dict:
    """ROOT/test.csv with a header, 3 rows (one with an unlabelled point as empty cells; one
    naming its image without the suffix); returns {name: (5, 2) values, NaN = empty}."""
    (root / "test").mkdir(parents=True)
    rows, values = ["name," + ",".join(f"x{j},y{j}" for j in range(5))], {}
    for i in range(3):
        name = f"pic{i}"
        _image(root / "test" / f"{name}.png", seed=i)
        pts = _points(i, k=5)
        if i == 1:
            pts[2] = np.nan
        values[name] = pts
        cells = ["" if np.isnan(v) else f"{v:.3f}" for v in pts.ravel()]
        rows.append(",".join([f"{name}.png" if i != 2 else name] + cells))
    (root / "test.csv").write_text("\n".join(rows) + "\n")
    return values


# ----------------------------------------------------------------- coordinate conventions


def test_pts_values_are_1_based_pixel_indices(tmp_path):
    # the centre of the top-left pixel is (1, 1) in a .pts file and (0.5, 0.5) in lmkviz
    path = tmp_path / "a.pts"
    path.write_text("version: 1\nn_points: 2\n{\n1 1\n10.25 3\n}\n")
    np.testing.assert_array_equal(read_pts(path), np.array([[0.5, 0.5], [9.75, 2.5]], np.float32))
    assert pts_text(np.array([[0.5, 0.5], [9.75, 2.5]], np.float32)).splitlines()[3:5] == ["1 1", "10.25 3"]


def test_coco_values_are_0_based_pixel_indices(tmp_path):
    root = tmp_path / "coco"
    (root / "train").mkdir(parents=True)
    _image(root / "train" / "a.jpg")
    doc = {"images": [{"id": 7, "file_name": "a.jpg"}],
           "annotations": [{"id": 1, "image_id": 7, "keypoints": [0, 0, 2, 10.25, 3, 1, 5, 5, 0]}]}
    (root / "train.json").write_text(json.dumps(doc))
    points = open_folder(root, "train").points(0)
    np.testing.assert_array_equal(points[:2], np.array([[0.5, 0.5], [10.75, 3.5]], np.float32))
    assert np.isnan(points[2]).all()  # v = 0: not labelled
    out = tmp_path / "out"
    convert(root, out, "coco")
    written = json.loads((out / "train.json").read_text())["annotations"][0]["keypoints"]
    assert written == [0.0, 0.0, 2, 10.25, 3.0, 2, 0, 0, 0]


def test_csv_and_lapa_values_are_used_as_written(tmp_path):
    values = make_csv(tmp_path / "csv")
    reader = open_folder(tmp_path / "csv", "test")
    np.testing.assert_allclose(reader.points(0), values["pic0"], atol=1e-5)


# ----------------------------------------------------------------- round trips through the LaPa layout


def _roundtrip(src: Path, fmt: str, tmp_path: Path, split: str) -> tuple:
    original = open_folder(src, split)
    convert(src, tmp_path / "as_lapa", "lapa")
    lapa = FolderSplit(tmp_path / "as_lapa", split)
    convert(tmp_path / "as_lapa", tmp_path / "back", fmt)
    back = open_folder(tmp_path / "back", split)
    return original, lapa, back


def _same_points(a, b, names=None):
    names = names or a.names
    for name in names:
        pa, pb = a.points(a.names.index(name)), b.points(b.names.index(name))
        np.testing.assert_array_equal(np.isnan(pa), np.isnan(pb))
        finite = ~np.isnan(pa)
        assert np.abs(pa[finite] - pb[finite]).max() <= 0.01, name


def test_pts_roundtrip_through_lapa_keeps_every_point_and_the_text(tmp_path):
    values = make_pts(tmp_path / "pts")
    original, lapa, back = _roundtrip(tmp_path / "pts", "pts", tmp_path, "train")
    assert detect_format(tmp_path / "back") == "pts" and back.format == "pts"
    assert original.names == lapa.names == back.names == ["face0", "face1", "face2"]
    _same_points(original, lapa)
    _same_points(original, back)
    for name, expected in values.items():  # the .pts text itself comes back (1-based both ways)
        written = np.loadtxt((tmp_path / "back" / "train" / f"{name}.pts").read_text().splitlines()[3:-1])
        assert np.abs(written - expected).max() <= 0.01
        lapa_values = np.loadtxt((tmp_path / "as_lapa" / "train" / "landmarks" / f"{name}.txt"), skiprows=1)
        np.testing.assert_allclose(lapa_values, expected - 0.5, atol=1e-4)  # continuous in the LaPa files
    # the images are copied byte for byte
    assert (tmp_path / "back" / "train" / "face0.jpg").read_bytes() == (tmp_path / "pts" / "train" / "face0.jpg").read_bytes()


def test_coco_wholebody_roundtrip_through_lapa_keeps_labelled_faces(tmp_path):
    faces = make_coco(tmp_path / "coco")
    original = open_folder(tmp_path / "coco", "val")
    assert sorted(original.names) == sorted(faces) and original.num_points == 68  # face points, not body points
    for name, face in faces.items():
        got = original.points(original.names.index(name))
        labelled = face[:, 2] > 0
        np.testing.assert_allclose(got[labelled], face[labelled, :2] + 0.5, atol=1e-4)
        assert np.isnan(got[~labelled]).all()
    report = convert(tmp_path / "coco", tmp_path / "as_lapa", "lapa")
    # the face with unlabelled points cannot go into the LaPa layout: reported, not written
    assert report["splits"] == {"val": 3}
    assert [s["file"] for s in report["skipped"]] == ["000003"] and "unlabelled" in report["skipped"][0]["reason"]
    lapa = FolderSplit(tmp_path / "as_lapa", "val")
    convert(tmp_path / "as_lapa", tmp_path / "back", "coco")
    back = open_folder(tmp_path / "back", "val")
    _same_points(original, lapa, names=lapa.names)
    _same_points(lapa, back)
    # COCO to COCO keeps the unlabelled points unlabelled
    convert(tmp_path / "coco", tmp_path / "coco2", "coco")
    _same_points(original, open_folder(tmp_path / "coco2", "val"))


def test_csv_roundtrip_through_lapa_and_empty_cells(tmp_path):
    values = make_csv(tmp_path / "csv")
    original = open_folder(tmp_path / "csv", "test")
    assert original.names == ["pic0", "pic1", "pic2"] and np.isnan(original.points(1)[2]).all()
    report = convert(tmp_path / "csv", tmp_path / "as_lapa", "lapa")
    assert report["splits"] == {"test": 2}  # pic1 has an unlabelled point
    convert(tmp_path / "as_lapa", tmp_path / "back", "csv")
    back = open_folder(tmp_path / "back", "test")
    _same_points(original, back, names=["pic0", "pic2"])
    # CSV to CSV keeps the empty cells
    convert(tmp_path / "csv", tmp_path / "csv2", "csv")
    again = open_folder(tmp_path / "csv2", "test")
    _same_points(original, again)
    row = (tmp_path / "csv2" / "test.csv").read_text().splitlines()[2].split(",")
    assert row[0] == "pic1.png" and row[5:7] == ["", ""] and abs(float(row[1]) - values["pic1"][0, 0]) < 1e-3


@pytest.mark.parametrize("to", WRITABLE)
def test_lapa_converts_to_each_format_and_back(tmp_path, make_lapa_folder, to):
    data = make_lapa_folder(bad_files=False, n_per_split=2, num_points=5)
    convert(data.root, tmp_path / f"as_{to}", to)
    assert detect_format(tmp_path / f"as_{to}") == to
    convert(tmp_path / f"as_{to}", tmp_path / "back", "lapa")
    for split in ("train", "val", "test"):
        a, b = FolderSplit(data.root, split), FolderSplit(tmp_path / "back", split)
        assert a.names == b.names
        np.testing.assert_array_equal(a.all_points(), b.all_points())  # exact, not only within 0.01 px


# ----------------------------------------------------------------- clear errors and skip reports


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("version: 1\n{\n1 2\n}\n", "no 'n_points: K' line"),
    ("version: 1\nn_points: two\n{\n1 2\n}\n", "line 2 should give the point count"),
    ("n_points: 2\n1 2\n3 4\n", "line 2 should be a header line"),
    ("n_points: 2\n{\n1 2\n3 4\n", "no line '}' closes"),
    ("n_points: 3\n{\n1 2\n3 4\n}\n", "announces 3 points but the file has 2"),
    (f"n_points: 2\n{{\n1 2\n3 {SECRET}\n}}\n", "line 4 is not numeric"),
    ("n_points: 2\n{\n1 2\n3 4 5\n}\n", "line 4 should be two numbers"),
    ("n_points: 2\n{\n1 2\nnan 4\n}\n", "line 4 holds NaN or infinity"),
    ("n_points: 2\n{\n1 2\n3 4e9\n}\n", "beyond"),
    ("n_points: 1\n{\n1 2\n}\nextra\n", "follows the closing"),
])
def test_read_pts_rejects_malformed_files(tmp_path, text, message):
    path = tmp_path / "bad.pts"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as err:
        read_pts(path)
    assert "bad.pts" in str(err.value) and SECRET not in str(err.value)


def test_pts_folder_skip_report(tmp_path):
    root = tmp_path / "pts"
    make_pts(root)
    train = root / "train"
    (train / "broken.pts").write_text(f"n_points: 1\n{{\n{SECRET} 1\n}}\n")
    _image(train / "broken.png")
    _image(train / "lonely.png")  # no .pts
    _pts_file(train / "orphan.pts", _points(9))  # no image
    _pts_file(train / "short.pts", _points(9, k=5))  # another point count
    _image(train / "short.png")
    with pytest.warns(UserWarning, match="skipping"):
        reader = open_folder(root, "train")
    reasons = {os.path.basename(f): r for f, r in reader.skipped}
    assert reader.names == ["face0", "face1", "face2"]
    assert "line 3 is not numeric" in reasons["broken.pts"]
    assert reasons["lonely.png"] == "missing landmark file lonely.pts"
    assert reasons["orphan.pts"] == "missing image file"
    assert reasons["short.pts"] == "wrong point count: expected 68, found 5"
    assert not any(SECRET in r for r in reasons.values())
    report = check_dataset(root)
    assert report["format"] == "pts" and report["splits"] == {"train": 3} and len(report["skipped"]) == 4


def test_coco_errors_and_skip_report(tmp_path):
    root = tmp_path / "coco"
    make_coco(root)
    doc = json.loads((root / "val.json").read_text())
    doc["annotations"] += [
        {"id": 40, "image_id": 99, "face_kpts": [1, 2, 2] * 68},                  # unknown image
        {"id": 41, "image_id": 1, "face_kpts": [1, 2] * 68},                     # not triples
        {"id": 42, "image_id": 1, "face_kpts": [SECRET] * 204},                  # not numbers
        {"id": 43, "image_id": 1, "face_kpts": [1e12, 2, 2] * 68},               # absurd
    ]
    doc["images"] += [{"id": 50, "file_name": "../outside.jpg"}, {"id": 51, "file_name": "gone.jpg"}]
    doc["annotations"] += [{"id": 44, "image_id": 50, "face_kpts": [1, 2, 2] * 68},
                           {"id": 45, "image_id": 51, "face_kpts": [1, 2, 2] * 68}]
    _image(tmp_path / "outside.jpg")
    (root / "val.json").write_text(json.dumps(doc))
    reader = open_folder(root, "val", warn=False)
    reasons = {f.split("annotation ")[-1].rstrip(")"): r for f, r in reader.skipped}
    assert len(reader) == 4
    assert "not in the 'images' list" in reasons["40"]
    assert "expected x, y, v for each point" in reasons["41"]
    assert "not a list of numbers" in reasons["42"]
    assert "beyond" in reasons["43"]
    assert "not followed" in reasons["44"]
    assert "missing image file" in reasons["45"]
    assert not any(SECRET in r or "outside.jpg" in r for r in reasons.values())
    for text, message in (("{", r"not valid JSON \(line 1, column 2\)"), ('{"images": []}', "not a COCO keypoints file"),
                          (f'["{SECRET}"]', "not a COCO keypoints file")):
        (root / "val.json").write_text(text)
        with pytest.raises(ValueError, match=message) as err:
            open_folder(root, "val")
        assert "val.json" in str(err.value) and SECRET not in str(err.value)


def test_csv_errors_and_skip_report(tmp_path):
    root = tmp_path / "csv"
    make_csv(root)
    with open(root / "test.csv", "a") as f:
        f.write(f"pic0.png,{SECRET},1,2,3,4,5,6,7,8,9\n")   # row 5: not a number
        f.write("pic0.png,1,2,3\n")                          # row 6: odd count
        f.write("nothere.png,1,2,3,4,5,6,7,8,9,10\n")        # row 7: missing image
        f.write("pic2.png,1,2,3,4,5,6,7,8,9,10\n")           # row 8: second row for pic2
        f.write("../up.png,1,2,3,4,5,6,7,8,9,10\n")          # row 9: leaves the folder
        f.write("pic0.png,,,,,,,,,,\n")                      # row 10: nothing labelled
    _image(root / "test" / "unlisted.png")
    reader = open_folder(root, "test", warn=False)
    reasons = {f.split("(row ")[-1].rstrip(")") if "(row" in f else os.path.basename(f): r for f, r in reader.skipped}
    assert reader.names == ["pic0", "pic1", "pic2"]
    assert reasons["5"] == "column 2 is not a number"
    assert "3 values after the name" in reasons["6"]
    assert reasons["7"] == "missing image file test/nothere.png"
    assert reasons["8"].startswith("a second row for pic2.png (kept row 4)")
    assert "no folders" in reasons["9"]
    assert reasons["10"] == "no labelled point"
    assert reasons["unlisted.png"] == "no row in test.csv"
    assert not any(SECRET in r for r in reasons.values())


def test_links_leading_outside_are_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    _pts_file(outside / "leak.pts", _points(3))
    _image(outside / "far.png")
    (outside / "secret.json").write_text(json.dumps({"images": [], "annotations": []}))
    root = tmp_path / "pts"
    make_pts(root)
    os.symlink(outside / "leak.pts", root / "train" / "face9.pts")
    os.symlink(outside / "far.png", root / "train" / "face8.png")
    _pts_file(root / "train" / "face8.pts", _points(4))
    reader = open_folder(root, "train", warn=False)
    reasons = {os.path.basename(f): r for f, r in reader.skipped}
    assert "outside the dataset folder" in reasons["face9.pts"] and "outside the dataset folder" in reasons["face8.png"]
    assert reader.names == ["face0", "face1", "face2"]
    coco = tmp_path / "coco"
    coco.mkdir()
    os.symlink(outside / "secret.json", coco / "train.json")
    with pytest.raises(ValueError, match="outside the dataset folder"):
        open_folder(coco, "train")
    # an image named by a COCO file or a CSV row that is a link leading outside
    for fmt in ("coco", "csv"):
        root = tmp_path / f"{fmt}_link"
        make_coco(root) if fmt == "coco" else make_csv(root)
        split = "val" if fmt == "coco" else "test"
        os.symlink(outside / "far.png", root / split / "link.png")
        if fmt == "coco":
            doc = json.loads((root / "val.json").read_text())
            doc["images"].append({"id": 9, "file_name": "link.png"})
            doc["annotations"].append({"id": 90, "image_id": 9, "face_kpts": [1, 2, 2] * 68})
            (root / "val.json").write_text(json.dumps(doc))
        else:
            with open(root / "test.csv", "a") as f:
                f.write("link.png,1,2,3,4,5,6,7,8,9,10\n")
        reader = open_folder(root, split, warn=False)
        assert "link" not in " ".join(reader.names)
        assert any("outside the dataset folder" in r for _, r in reader.skipped), fmt


def test_not_a_dataset_and_missing_split(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not a dataset in the LaPa layout nor in another layout"):
        open_split(str(tmp_path / "empty"), "train")
    make_csv(tmp_path / "csv")
    with pytest.raises(ValueError, match="has no split 'train' .*available splits: test"):
        open_folder(tmp_path / "csv", "train")


# ----------------------------------------------------------------- the rest of lmkviz takes these folders


def test_detection_discovery_and_open_split(tmp_path, monkeypatch):
    make_pts(tmp_path / "data" / "flat300w", flat=True)
    make_coco(tmp_path / "data" / "wholebody")
    make_csv(tmp_path / "data" / "table")
    monkeypatch.setenv("LMKVIZ_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    assert {d.name: (d.format, d.splits, d.num_points) for d in discover_datasets()} == {
        "flat300w": ("pts", {"test": 2}, 68), "wholebody": ("coco", {"val": 4}, 68), "table": ("csv", {"test": 3}, 5)}
    assert set(FORMATS) == {"lapa", "coco", "csv", "pts"}
    flat = open_split("flat300w", "test")  # by discovered name, the flat folder as split "test"
    assert flat.format == "pts" and flat.names == ["face0", "face1"]
    item = LandmarkDataset(open_split(str(tmp_path / "data" / "wholebody"), "val"))[0]
    assert item["image"].shape == (3, 40, 50) and item["points"].shape == (68, 2)


def test_data_convert_cli(tmp_path, capsys):
    make_pts(tmp_path / "pts")
    assert main(["data", "convert", str(tmp_path / "pts"), str(tmp_path / "out"), "--to", "coco", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["splits"] == {"train": 3} and report["from"] == "pts" and report["to"] == "coco"
    assert main(["data", "check", str(tmp_path / "out")]) == 0
    assert "Format: coco" in capsys.readouterr().out
    # an existing destination is refused; so is a folder in no format
    assert main(["data", "convert", str(tmp_path / "pts"), str(tmp_path / "out"), "--to", "lapa"]) == 2
    assert "not an empty folder" in capsys.readouterr().err
    (tmp_path / "nothing").mkdir()
    assert main(["data", "convert", str(tmp_path / "nothing"), str(tmp_path / "o2"), "--to", "lapa"]) == 2
    assert "not a dataset" in capsys.readouterr().err


@pytest.mark.shared_data
@pytest.mark.parametrize("to", ["pts", "coco", "csv"])
def test_shared_face68_val_through_each_format_and_back(shared_datasets, tmp_path, to):
    src = shared_datasets / "face68"
    convert(src, tmp_path / to, to, splits=["val"])
    convert(tmp_path / to, tmp_path / "back", "lapa")
    a, b = FolderSplit(src, "val"), FolderSplit(tmp_path / "back", "val")
    assert a.names == b.names and len(a) == 100
    np.testing.assert_array_equal(a.all_points(), b.all_points())
    for name in a.names[:5]:  # the text values too (written without trailing zeros)
        written = np.loadtxt(tmp_path / "back" / "val" / "landmarks" / f"{name}.txt", skiprows=1)
        np.testing.assert_array_equal(written, np.loadtxt(src / "val" / "landmarks" / f"{name}.txt", skiprows=1))
