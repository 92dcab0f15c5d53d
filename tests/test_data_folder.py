import io
import os
import warnings

import numpy as np
import pytest
from PIL import Image

from lmkviz import paths
from lmkviz.data.folder import (
    FolderSplit,
    Sample,
    check_dataset,
    discover_datasets,
    format_check_report,
    is_lapa_layout,
    read_image,
    read_landmarks,
)

# ----------------------------------------------------------------- read_landmarks


def test_read_landmarks_parses_points(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("3\n1.5 2.25\n  10 20  \n\n0 63.99\n\n")
    points = read_landmarks(path, expected=3)
    assert points.dtype == np.float32 and points.shape == (3, 2)
    np.testing.assert_array_equal(points, np.array([[1.5, 2.25], [10, 20], [0, 63.99]], np.float32))


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("68.5\n1 2\n", "line 1 should be the point count"),
        ("two\n1 2\n", "line 1 should be the point count"),
        ("0\n", "must be positive"),
        ("3\n1 2\n3 4\n", "announces 3 points but the file has 2"),
        ("1\n1 2\n3 4\n", "announces 1 points but the file has 2"),
        ("2\n1 2\n3 x\n", "line 3 is not numeric"),
        ("2\n1 2\n3 4 5\n", "line 3 should be two numbers"),
        ("2\n1 2\n3\n", "line 3 should be two numbers"),
        ("2\n1 nan\n3 4\n", "line 2 holds NaN or infinity"),
        ("2\n1 2\ninf 4\n", "line 3 holds NaN or infinity"),
    ],
)
def test_read_landmarks_rejects_malformed_files(tmp_path, text, message):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as err:
        read_landmarks(path)
    assert "bad.txt" in str(err.value)


def test_read_landmarks_expected_count_and_missing(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("2\n1 2\n3 4\n")
    with pytest.raises(ValueError, match="expected 68 points, found 2"):
        read_landmarks(path, expected=68)
    with pytest.raises(ValueError, match="not found"):
        read_landmarks(tmp_path / "missing.txt")
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match="binary.txt"):
        read_landmarks(tmp_path / "binary.txt")


# ----------------------------------------------------------------- read_image


def _save(tmp_path, array_or_image, name, **kwargs):
    image = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    path = tmp_path / name
    image.save(path, **kwargs)
    return path


def test_read_image_rgb_png_roundtrip(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    out = read_image(_save(tmp_path, rgb, "a.png"))
    assert out.dtype == np.uint8 and out.shape == (5, 7, 3)
    np.testing.assert_array_equal(out, rgb)


def test_read_image_grey_and_palette_become_rgb(tmp_path):
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    out = read_image(_save(tmp_path, grey, "g.png"))
    assert out.shape == (3, 4, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], grey)
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 0] = (255, 0, 0)
    palette = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    out = read_image(_save(tmp_path, palette, "p.png"))
    assert tuple(out[0, 0]) == (255, 0, 0) and tuple(out[1, 1]) == (0, 0, 0)


def test_read_image_alpha_composited_over_white(tmp_path):
    rgba = np.zeros((1, 2, 4), np.uint8)
    rgba[0, 0] = (10, 20, 30, 255)  # opaque: kept
    rgba[0, 1] = (200, 0, 0, 0)  # transparent: white, not the hidden red
    out = read_image(_save(tmp_path, rgba, "a.png"))
    assert tuple(out[0, 0]) == (10, 20, 30)
    assert tuple(out[0, 1]) == (255, 255, 255)


def test_read_image_16bit_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 1000, 32896, 65535]], dtype=np.uint16)
    path = _save(tmp_path, Image.fromarray(values), "deep.png")
    with Image.open(path) as im:
        assert im.mode in ("I;16", "I")
    out = read_image(path)
    assert out.shape == (1, 4, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0, :, 0], [0, 4, 128, 255])


def test_read_image_corrupt_files_raise_value_error_naming_the_file(tmp_path):
    noise = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, format="JPEG")
    (tmp_path / "trunc.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    (tmp_path / "text.jpg").write_text("hello")
    with pytest.raises(ValueError, match="trunc.jpg.*truncated"):
        read_image(tmp_path / "trunc.jpg")
    with pytest.raises(ValueError, match="text.jpg.*not an image"):
        read_image(tmp_path / "text.jpg")
    with pytest.raises(ValueError, match="missing.png.*not found"):
        read_image(tmp_path / "missing.png")


def test_read_image_size_guard(tmp_path, monkeypatch):
    path = _save(tmp_path, np.zeros((20, 30, 3), np.uint8), "big.png")
    from lmkviz import images

    monkeypatch.setattr(images, "MAX_PIXELS", 500)
    with pytest.raises(ValueError, match="big.png.*above the limit"):
        read_image(path)


def test_read_image_exif_rotation_only_when_asked(tmp_path):
    image = Image.fromarray(np.zeros((20, 40, 3), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise for display
    path = tmp_path / "phone.jpg"
    image.save(path, exif=exif.tobytes())
    assert read_image(path).shape == (20, 40, 3)  # stored pixels (annotations refer to these)
    assert read_image(path, exif_transpose=True).shape == (40, 20, 3)


# ----------------------------------------------------------------- FolderSplit


def test_folder_split_reads_good_pairs_and_skips_bad_ones(make_lapa_folder):
    data = make_lapa_folder(n_per_split=3, num_points=68, size=48)
    with pytest.warns(UserWarning) as record:
        split = FolderSplit(data.root, "train")
    # the truncated JPEG has a valid header: it is only caught when decoded
    assert split.names == sorted(data.good["train"] + ["bad_truncated"])
    assert len(split) == 4 and split.num_points == 68
    reasons = {os.path.basename(f): r for f, r in split.skipped}
    assert set(reasons) == set(data.bad) - {"bad_truncated.jpg"}
    for name, phrase in data.bad.items():
        if name != "bad_truncated.jpg":
            assert phrase in reasons[name], (name, reasons[name])
    messages = [str(w.message) for w in record]
    for name in reasons:
        assert any(name in m for m in messages), name
    assert any("skipped 4 of 8 files" in m for m in messages)


def test_folder_split_samples_match_files(make_lapa_folder):
    data = make_lapa_folder(n_per_split=2, num_points=5, size=40, bad_files=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean folder warns about nothing
        split = FolderSplit(data.root, "val")
    assert split.num_points == 5 and split.skipped == []
    sample = split[1]
    assert isinstance(sample, Sample) and sample.name == "val_001"
    assert sample.image.shape == (40, 40, 3) and sample.image.dtype == np.uint8
    expected = read_landmarks(data.root / "val" / "landmarks" / "val_001.txt")
    np.testing.assert_array_equal(sample.points, expected)
    assert sample.points.dtype == np.float32
    np.testing.assert_array_equal(split[-1].points, sample.points)
    sample.points[:] = -1  # samples are copies
    np.testing.assert_array_equal(split.points(1), expected)
    assert split.all_points().shape == (2, 5, 2)
    sizes = split.image_sizes()
    assert sizes.shape == (2, 2) and (sizes == [40, 40]).all()
    with pytest.raises(IndexError):
        split[2]


def test_folder_split_image_sizes_are_rows_h_w(tmp_path):
    root = tmp_path / "ds"
    (root / "test" / "images").mkdir(parents=True)
    (root / "test" / "landmarks").mkdir(parents=True)
    Image.fromarray(np.zeros((30, 50, 3), np.uint8)).save(root / "test" / "images" / "a.JPG")
    (root / "test" / "landmarks" / "a.txt").write_text("1\n1 2\n")
    split = FolderSplit(root, "test")
    assert split.image_sizes().tolist() == [[30, 50]]
    assert split[0].image.shape == (30, 50, 3)


def test_folder_split_most_common_point_count_wins(make_lapa_folder):
    data = make_lapa_folder(n_per_split=2, num_points=68, bad_files=False)
    landmarks = data.root / "train" / "landmarks"
    (landmarks / "train_000.txt").write_text("2\n1 1\n2 2\n")
    with pytest.warns(UserWarning) as record:
        split = FolderSplit(data.root, "train")
    assert any("wrong point count: expected 68, found 2" in str(w.message) for w in record)
    assert split.names == ["train_001"]
    with pytest.warns(UserWarning):
        forced = FolderSplit(data.root, "train", num_points=2)
    assert forced.names == ["train_000"]


def test_folder_split_rejects_non_datasets(tmp_path, make_lapa_folder):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not a dataset in the LaPa layout"):
        FolderSplit(tmp_path / "empty", "train")
    with pytest.raises(ValueError, match="does not exist"):
        FolderSplit(tmp_path / "nowhere", "train")
    data = make_lapa_folder(splits=("train",), bad_files=False)
    with pytest.raises(ValueError, match="no split 'val'.*available splits: train"):
        FolderSplit(data.root, "val")


def test_is_lapa_layout(tmp_path, make_lapa_folder):
    data = make_lapa_folder(splits=("test",), bad_files=False)
    assert is_lapa_layout(data.root)
    assert not is_lapa_layout(data.root / "test")
    (tmp_path / "half" / "train" / "images").mkdir(parents=True)
    assert not is_lapa_layout(tmp_path / "half")
    assert not is_lapa_layout(tmp_path / "missing")


# ----------------------------------------------------------------- check_dataset


def test_check_dataset_full_and_quick(make_lapa_folder):
    data = make_lapa_folder(n_per_split=3, size=48)
    full = check_dataset(data.root, full=True)
    assert full["splits"] == {"train": 3, "val": 3, "test": 3}
    assert full["points"] == 68 and full["root"] == str(data.root)
    files = {os.path.basename(s["file"]): s for s in full["skipped"]}
    assert set(files) == set(data.bad)
    assert all(s["split"] == "train" for s in full["skipped"])
    for name, phrase in data.bad.items():
        assert phrase in files[name]["reason"]

    quick = check_dataset(data.root, full=False)
    assert quick["splits"]["train"] == 4  # the truncated JPEG passes a header check
    assert {os.path.basename(s["file"]) for s in quick["skipped"]} == set(data.bad) - {"bad_truncated.jpg"}

    text = format_check_report(full)
    assert "Points per face: 68 (scheme ibug68)" in text
    assert "train" in text and "Skipped 5 file(s)" in text
    for name in data.bad:
        assert name in text


def test_check_dataset_not_a_dataset(tmp_path):
    with pytest.raises(ValueError, match="not a dataset"):
        check_dataset(tmp_path)


# ----------------------------------------------------------------- discovery


def test_discover_datasets_in_env_folders(tmp_path, make_lapa_folder, monkeypatch):
    a = make_lapa_folder("collection/alpha", num_points=68, n_per_split=2, bad_files=False)
    b = make_lapa_folder("collection/beta", num_points=106, n_per_split=1, splits=("train", "test"),
                         bad_files=False)
    make_lapa_folder("collection/deeper/gamma", bad_files=False)  # two levels down: not searched
    (b.root / "train" / "images" / "orphan.jpg").write_bytes(b"")  # no landmark file: not counted
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(paths, "PROJECT_DATA", tmp_path / "no_project_data")
    monkeypatch.setenv("LMKVIZ_DATA", os.pathsep.join([str(tmp_path / "collection"), str(a.root), ""]))
    found = discover_datasets()
    assert [d.name for d in found] == ["alpha", "beta"]  # alpha found twice, listed once
    alpha, beta = found
    assert alpha.splits == {"train": 2, "val": 2, "test": 2}
    assert alpha.num_points == 68 and alpha.scheme_name == "ibug68"
    assert beta.splits == {"train": 1, "test": 1}
    assert beta.num_points == 106 and beta.scheme_name == "lapa106"


def test_discover_datasets_in_local_data_folder(tmp_path, make_lapa_folder, monkeypatch):
    make_lapa_folder("data/LaPa", num_points=7, n_per_split=1, bad_files=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LMKVIZ_DATA", raising=False)
    monkeypatch.setattr(paths, "PROJECT_DATA", tmp_path / "data")  # same folder: deduplicated
    found = discover_datasets(extra_dirs=[tmp_path / "nothing_here"])
    assert [(d.name, d.num_points, d.scheme_name) for d in found] == [("LaPa", 7, "generic7")]


def test_discovery_point_count_is_not_decided_by_one_odd_file(tmp_path, make_lapa_folder):
    data = make_lapa_folder("odd", num_points=68, n_per_split=6, bad_files=False)
    first = sorted((data.root / "train" / "landmarks").glob("*.txt"))[0]
    first.write_text("5\n" + "1 1\n" * 5)  # alphabetically first, and wrong
    (info,) = [d for d in discover_datasets(extra_dirs=[data.root]) if d.path == data.root]
    assert info.num_points == 68 and info.scheme_name == "ibug68"


@pytest.mark.shared_data
def test_shared_datasets_scan_cleanly(shared_datasets):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        split = FolderSplit(shared_datasets / "face68", "test")
    assert len(split) == 51 and split.num_points == 68
    sample = split[0]
    assert sample.image.shape == (320, 320, 3)
    assert np.isfinite(sample.points).all()
    assert ((sample.points >= 0) & (sample.points < 320)).all()
    names = {d.name for d in discover_datasets(extra_dirs=[shared_datasets])}
    assert {"face68", "ytf68"} <= names


# ----------------------------------------------------------------- odd files and folders


def _copy_pair(split_dir, src: str, dst_image: str, dst_landmarks: str) -> None:
    """Copy the pair ``src`` of a split as new file names (``str`` or ``bytes``)."""
    image = next((split_dir / "images").glob(f"{src}.*"))
    images, landmarks = os.fsencode(split_dir / "images"), os.fsencode(split_dir / "landmarks")
    with open(os.path.join(images, os.fsencode(dst_image)), "wb") as f:
        f.write(image.read_bytes())
    with open(os.path.join(landmarks, os.fsencode(dst_landmarks)), "wb") as f:
        f.write((split_dir / "landmarks" / f"{src}.txt").read_bytes())


def test_a_symlink_loop_is_skipped_with_a_reason(make_lapa_folder):
    data = make_lapa_folder(n_per_split=2, bad_files=False)
    train = data.root / "train"
    os.symlink("loop.jpg", train / "images" / "loop.jpg")  # ln -s loop.jpg images/loop.jpg
    (train / "landmarks" / "loop.txt").write_bytes((train / "landmarks" / "train_000.txt").read_bytes())
    os.symlink("self.txt", train / "landmarks" / "self.txt")
    split = FolderSplit(data.root, "train", warn=False)
    assert split.names == data.good["train"]
    reasons = {os.path.basename(f): r for f, r in split.skipped}
    assert "symbolic link loop" in reasons["loop.jpg"] and "symbolic link loop" in reasons["self.txt"]
    report = check_dataset(data.root)
    assert report["splits"]["train"] == 2
    assert {os.path.basename(s["file"]) for s in report["skipped"]} == {"loop.jpg", "self.txt"}
    assert [d.splits["train"] for d in discover_datasets(extra_dirs=[data.root]) if d.path == data.root] == [2]
    from lmkviz.data import open_split

    assert len(open_split(str(data.root), "train", warn=False)) == 2  # what training opens


def test_symlinks_leaving_the_dataset_are_not_followed_nor_quoted(tmp_path, make_lapa_folder):
    data = make_lapa_folder(n_per_split=2, bad_files=False)
    train = data.root / "train"
    secret = tmp_path / "secret.txt"  # outside the dataset, e.g. a root-only file
    secret.write_text("TOPSECRET hunter2 line one\n")
    outside_image = tmp_path / "outside.png"
    outside_image.write_bytes(next((train / "images").glob("train_000.*")).read_bytes())
    _copy_pair(train, "train_000", "leak.jpg", "unused.txt")
    os.remove(train / "landmarks" / "unused.txt")
    os.symlink(secret, train / "landmarks" / "leak.txt")
    _copy_pair(train, "train_001", "unused.jpg", "far.txt")
    os.remove(train / "images" / "unused.jpg")
    os.symlink(outside_image, train / "images" / "far.png")
    # a symlink that stays inside the dataset is an ordinary file
    os.symlink("train_001.jpg", train / "images" / "alias.jpg")
    (train / "landmarks" / "alias.txt").write_bytes((train / "landmarks" / "train_001.txt").read_bytes())
    split = FolderSplit(data.root, "train", warn=False)
    assert split.names == ["alias"] + data.good["train"]
    reasons = {os.path.basename(f): r for f, r in split.skipped}
    assert set(reasons) == {"leak.txt", "far.png"}
    assert all("outside the dataset folder" in r for r in reasons.values())
    report = check_dataset(data.root)
    text = format_check_report(report) + repr(report)
    assert "TOPSECRET" not in text and "hunter2" not in text


def test_a_linked_split_folder_outside_the_dataset_is_not_followed(tmp_path, make_lapa_folder):
    data = make_lapa_folder("ds", n_per_split=2, bad_files=False)
    other = make_lapa_folder("elsewhere", n_per_split=2, bad_files=False)
    images = data.root / "val" / "images"
    for f in images.iterdir():
        f.unlink()
    images.rmdir()
    os.symlink(other.root / "val" / "images", images)
    split = FolderSplit(data.root, "val", warn=False)
    assert len(split) == 0
    assert [(os.path.basename(f), r) for f, r in split.skipped] == [
        ("images", "symbolic link to a folder outside the dataset folder; not followed")]  # one line, not one per file


def test_skip_reasons_say_what_is_wrong_not_what_the_file_says(make_lapa_folder):
    data = make_lapa_folder(n_per_split=2, bad_files=False)
    train = data.root / "train"
    for name, text in [("count", "SECRETCOUNT\n1 2\n"), ("pair", "2\n1 2\nSECRETPAIR 3 4\n"),
                       ("num", "2\n1 2\nSECRETNUM 4\n"), ("utf", None)]:
        _copy_pair(train, "train_000", f"{name}.jpg", f"{name}.txt")
        path = train / "landmarks" / f"{name}.txt"
        if text is None:
            path.write_bytes(b"2\n1 2\n\xffSECRETBYTES 4\n")
        else:
            path.write_text(text)
    split = FolderSplit(data.root, "train", warn=False)
    reasons = {os.path.basename(f): r for f, r in split.skipped}
    assert set(reasons) == {"count.txt", "pair.txt", "num.txt", "utf.txt"}
    assert "line 1 should be the point count" in reasons["count.txt"]
    assert "line 3 should be two numbers" in reasons["pair.txt"]
    assert "line 3 is not numeric" in reasons["num.txt"]
    assert "UTF-8" in reasons["utf.txt"]
    assert not any("SECRET" in r for r in reasons.values()), reasons


def test_non_utf8_file_names_are_read_and_shown_printably(make_lapa_folder):
    data = make_lapa_folder(n_per_split=2, bad_files=False)
    train = data.root / "train"
    _copy_pair(train, "train_000", b"caf\xe9.jpg", b"caf\xe9.txt")  # a usable pair
    _copy_pair(train, "train_000", b"na\xefve.jpg", b"unused.txt")  # no landmark file: skipped
    (train / "landmarks" / "unused.txt").unlink()
    split = FolderSplit(data.root, "train", warn=False)
    assert split.names == ["caf\\xe9"] + data.good["train"]
    assert split[0].image.shape == split[1].image.shape  # the file behind the name is read
    np.testing.assert_array_equal(split[0].points, split[1].points)
    report = check_dataset(data.root)
    assert report["splits"]["train"] == 3
    assert [os.path.basename(s["file"]) for s in report["skipped"]] == ["na\\xefve.jpg"]
    format_check_report(report).encode("utf-8")  # strict: no lone surrogates left
    for name in split.names:
        name.encode("utf-8")


def test_landmark_values_must_be_finite_in_float32_and_plausible(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("2\n1e39 5\n3 4\n")  # finite as float64, inf as float32
    with pytest.raises(ValueError, match="big.txt: line 2 .*coordinate"):
        read_landmarks(path)
    path.write_text("2\n1 5\n3 -2e7\n")
    with pytest.raises(ValueError, match="line 3 .*coordinate"):
        read_landmarks(path)
    path.write_text("2\n-12.5 5\n3 400000\n")  # outside a small image, but a plausible pixel value
    assert np.isfinite(read_landmarks(path)).all()


def test_a_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbf2\r\n1.5 2\r\n3 4\r\n")  # as Windows Notepad saves it
    np.testing.assert_array_equal(read_landmarks(path), np.array([[1.5, 2], [3, 4]], np.float32))


def test_an_empty_split_says_so_where_it_is_opened_for_training(make_lapa_folder):
    from lmkviz.data import open_split
    from lmkviz.training import build_datasets
    from tests.helpers import tiny_config

    data = make_lapa_folder(n_per_split=2, bad_files=False)
    for f in (data.root / "val" / "images").iterdir():
        f.unlink()  # val: landmark files only
    assert check_dataset(data.root)["splits"]["val"] == 0  # the check reports it ...
    with pytest.raises(ValueError, match=r"split 'val' of .* is empty.*lmkviz data check"):
        open_split(str(data.root), "val")  # ... opening it for use is an error
    with pytest.raises(ValueError, match="split 'val' of .* is empty"):
        build_datasets(tiny_config(data=(str(data.root),)))  # was IndexError
    assert len(open_split(str(data.root), "train")) == 2
