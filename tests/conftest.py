"""Shared fixtures: small LaPa-layout folders built on the fly, and the optional shared data."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

# The suite runs next to the processes it starts (training jobs, a Streamlit server)
# on machines with few cores: idle OpenMP threads must sleep, not spin, or a test
# that shares a core with such a process runs 10x slower. Set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def lmkviz_home(monkeypatch, tmp_path) -> Path:
    """Every test gets its own empty lmkviz home ($LMKVIZ_HOME: settings, caches), so that
    the settings of the person running the suite never leak into a test, nor the reverse."""
    path = tmp_path / "lmkviz_home"
    monkeypatch.setenv("LMKVIZ_HOME", str(path))
    return path


@dataclass
class LapaFolder:
    """What :func:`make_lapa_folder` wrote: ``good[split]`` = sorted names of valid pairs,
    ``bad[file name]`` = a phrase expected in the skip reason (all bad files are in train/)."""

    root: Path
    num_points: int
    size: int
    width: int = 0
    good: dict = field(default_factory=dict)
    bad: dict = field(default_factory=dict)


def _write_landmarks(path: Path, points: np.ndarray, count: Optional[int] = None) -> None:
    count = len(points) if count is None else count
    path.write_text(f"{count}\n" + "".join(f"{x:.2f} {y:.2f}\n" for x, y in points))


def _jpeg_bytes(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def build_lapa_folder(
    root: Path,
    n_per_split: int = 3,
    num_points: int = 68,
    size: int = 64,
    bad_files: bool = True,
    splits: tuple = ("train", "val", "test"),
    seed: int = 0,
    width: Optional[int] = None,
    margin: float = 1.0,
) -> LapaFolder:
    """Write a LaPa-layout dataset with random images (``size`` rows x ``width`` columns,
    default square; one PNG per split) and points at least ``margin`` px inside the image.
    With ``bad_files``, train/ also gets: a truncated JPEG, a text file named .jpg, a
    landmark file with the wrong point count, one with a malformed line, and an image
    without a landmark file."""
    rng = np.random.default_rng(seed)
    width = size if width is None else width
    low, high = np.array([margin, margin]), np.array([width - margin, size - margin])
    info = LapaFolder(root=root, num_points=num_points, size=size, width=width)
    for split in splits:
        images, landmarks = root / split / "images", root / split / "landmarks"
        images.mkdir(parents=True)
        landmarks.mkdir(parents=True)
        (root / split / "labels").mkdir()  # LaPa's segmentation labels: ignored
        names = []
        for i in range(n_per_split):
            name = f"{split}_{i:03d}"
            image = rng.integers(0, 256, (size, width, 3), dtype=np.uint8)
            suffix = ".png" if i == 0 else ".jpg"
            Image.fromarray(image).save(images / f"{name}{suffix}")
            _write_landmarks(landmarks / f"{name}.txt", rng.uniform(low, high, (num_points, 2)))
            names.append(name)
        info.good[split] = sorted(names)
    if bad_files and "train" in splits:
        images, landmarks = root / "train" / "images", root / "train" / "landmarks"
        noise = rng.integers(0, 256, (size, width, 3), dtype=np.uint8)
        points = rng.uniform(low, high, (num_points, 2))
        data = _jpeg_bytes(noise)
        (images / "bad_truncated.jpg").write_bytes(data[: len(data) // 2])
        _write_landmarks(landmarks / "bad_truncated.txt", points)
        (images / "bad_notimage.jpg").write_text("this is not an image\n")
        _write_landmarks(landmarks / "bad_notimage.txt", points)
        (images / "bad_count.jpg").write_bytes(data)
        _write_landmarks(landmarks / "bad_count.txt", points[:-1])
        (images / "bad_malformed.jpg").write_bytes(data)
        _write_landmarks(landmarks / "bad_malformed.txt", points)
        text = (landmarks / "bad_malformed.txt").read_text().splitlines()
        text[3] = "12.5 abc"
        (landmarks / "bad_malformed.txt").write_text("\n".join(text) + "\n")
        (images / "bad_missing.jpg").write_bytes(data)
        info.bad = {
            "bad_truncated.jpg": "truncated",
            "bad_notimage.jpg": "not an image",
            "bad_count.txt": f"wrong point count: expected {num_points}, found {num_points - 1}",
            "bad_malformed.txt": "line 4 is not numeric",
            "bad_missing.jpg": "missing landmark file",
        }
    return info


@pytest.fixture
def make_lapa_folder(tmp_path: Path) -> Callable[..., LapaFolder]:
    """Factory: ``make_lapa_folder(name="lapa", n_per_split=3, num_points=68, size=64,
    bad_files=True, width=None, margin=1.0, ...)`` builds a folder under ``tmp_path``
    (see :func:`build_lapa_folder`)."""

    def make(name: str = "lapa", **kwargs) -> LapaFolder:
        return build_lapa_folder(tmp_path / name, **kwargs)

    return make


def shared_datasets_dir() -> Optional[Path]:
    """The shared datasets folder (first of $LMKVIZ_DATA, then ../shared/datasets), or None."""
    candidates = [p for p in os.environ.get("LMKVIZ_DATA", "").split(os.pathsep) if p.strip()]
    candidates.append(str(REPO_ROOT.parent / "shared" / "datasets"))
    for entry in candidates:
        path = Path(entry)
        if (path / "face68").is_dir():
            return path
    return None


@pytest.fixture
def shared_datasets() -> Path:
    """Path of the shared datasets (face68, ytf68); skips the test when absent."""
    path = shared_datasets_dir()
    if path is None:
        pytest.skip("shared datasets not found (set LMKVIZ_DATA or provide ../shared/datasets)")
    return path
