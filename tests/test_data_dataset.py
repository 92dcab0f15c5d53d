import os
import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from lmkviz.data import AugmentConfig, FolderSplit, LandmarkDataset, Sample, build_transform, open_split


class ListSplit:
    """Minimal split reader: anything with __len__ and __getitem__ -> Sample."""

    def __init__(self, n=4, size=16, k=3, fail=()):
        rng = np.random.default_rng(0)
        self.samples = [
            Sample(rng.integers(0, 256, (size, size, 3), dtype=np.uint8),
                   rng.uniform(0, size, (k, 2)).astype(np.float32), f"s{i}")
            for i in range(n)
        ]
        self.names = [s.name for s in self.samples]
        self.fail = set(fail)

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        if i in self.fail:
            raise ValueError(f"s{i}: cannot decode image (broken)")
        return self.samples[i]


def test_default_transform_gives_float_image_without_resizing():
    split = ListSplit(n=2, size=16, k=3)
    item = LandmarkDataset(split)[1]
    assert set(item) == {"image", "points", "name", "original_size", "original_points"}
    assert item["name"] == "s1" and item["original_size"].tolist() == [16, 16]
    assert item["image"].shape == (3, 16, 16) and item["image"].dtype == torch.float32
    expected = torch.from_numpy(split.samples[1].image).permute(2, 0, 1).float() / 255
    torch.testing.assert_close(item["image"], expected)
    assert item["points"].dtype == torch.float32
    torch.testing.assert_close(item["points"], torch.from_numpy(split.samples[1].points))


def test_indices_select_points_after_the_transform():
    split = ListSplit(n=1, k=5)
    ds = LandmarkDataset(split, indices=(4, 0))
    torch.testing.assert_close(ds[0]["points"], torch.from_numpy(split.samples[0].points[[4, 0]]))
    with pytest.raises(ValueError, match="selects no landmarks"):
        LandmarkDataset(split, indices=())


def test_items_carry_the_original_size_and_points_through_a_resize():
    from lmkviz.coords import rescale_batch
    from lmkviz.data.augment import AugmentConfig, build_transform

    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (30, 50, 3), dtype=np.uint8)  # H 30, W 50
    points = np.array([[10.0, 5.0], [45.5, 29.0], [0.25, 12.0]], dtype=np.float32)
    split = ListSplit(n=1, size=16, k=3)
    split.samples[0] = Sample(image=image, points=points, name="wide")
    ds = LandmarkDataset(split, indices=(2, 1), transform=build_transform(AugmentConfig(input_size=20), train=False))
    item = ds[0]
    assert item["original_size"].tolist() == [30, 50]
    torch.testing.assert_close(item["original_points"], torch.from_numpy(points[[2, 1]]))
    # the resized points are the original ones scaled per axis: x * 20 / 50, y * 20 / 30
    torch.testing.assert_close(item["points"], torch.from_numpy(points[[2, 1]]) * torch.tensor([0.4, 2 / 3]))
    back = rescale_batch(item["points"][None], 20, item["original_size"][None])[0]
    torch.testing.assert_close(back, item["original_points"], atol=1e-5, rtol=1e-5)


def test_indices_out_of_range_for_folder(make_lapa_folder):
    data = make_lapa_folder(num_points=5, bad_files=False)
    with pytest.raises(ValueError, match=r"\[5\] are out of range for 5 points"):
        LandmarkDataset(FolderSplit(data.root, "train"), indices=(0, 5))


def test_failed_sample_is_skipped_with_a_warning():
    split = ListSplit(n=4, fail={1, 2})
    ds = LandmarkDataset(split)
    with pytest.warns(UserWarning) as record:
        item = ds[1]
    assert item["name"] == "s3"
    assert [str(w.message) for w in record] == [
        "skipping s1: cannot decode image (broken)",
        "skipping s2: cannot decode image (broken)",
    ]
    assert ds.skipped == [("s1", "cannot decode image (broken)"), ("s2", "cannot decode image (broken)")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # known-bad samples are not retried
        assert ds[2]["name"] == "s3"
    with pytest.raises(IndexError):
        ds[4]


def test_all_samples_failing_raises():
    ds = LandmarkDataset(ListSplit(n=2, fail={0, 1}))
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="no sample"):
        ds[0]


def test_truncated_image_in_folder_found_late(make_lapa_folder):
    data = make_lapa_folder(n_per_split=2, size=32)
    with pytest.warns(UserWarning):
        split = FolderSplit(data.root, "train")
    bad = split.names.index("bad_truncated")
    ds = LandmarkDataset(split, transform=build_transform(AugmentConfig(input_size=16), train=False))
    with pytest.warns(UserWarning, match="bad_truncated.jpg"):
        item = ds[bad]
    assert item["name"] == split.names[(bad + 1) % len(split)]
    assert item["image"].shape == (3, 16, 16)
    assert os.path.basename(ds.skipped[0][0]) == "bad_truncated.jpg"
    loader = DataLoader(ds, batch_size=len(ds), shuffle=False)
    batch = next(iter(loader))
    assert batch["image"].shape == (len(ds), 3, 16, 16)
    assert batch["points"].shape == (len(ds), 68, 2)


def test_open_split_by_path_and_name(make_lapa_folder, monkeypatch):
    data = make_lapa_folder("sets/mine", num_points=5, bad_files=False)
    split = open_split(data.root, "val")
    assert isinstance(split, FolderSplit) and len(split) == 3
    monkeypatch.setenv("LMKVIZ_DATA", str(data.root.parent))
    assert open_split("mine", "test").root == data.root
    with pytest.raises(ValueError, match="not found.*synthetic.*mine"):
        open_split("nonexistent", "train")


def test_open_split_synthetic():
    pytest.importorskip("lmkviz.data.synthetic")
    split = open_split("synthetic", "val", n=2, size=64)
    assert len(split) == 2
    sample = split[0]
    assert sample.image.shape == (64, 64, 3) and sample.image.dtype == np.uint8
    assert sample.points.ndim == 2 and sample.points.shape[1] == 2
    item = LandmarkDataset(split, transform=build_transform(AugmentConfig(input_size=32), train=False))[0]
    assert item["image"].shape == (3, 32, 32)
