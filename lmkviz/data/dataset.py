"""PyTorch view of any split reader: :class:`LandmarkDataset` and :func:`open_split`.

A *split reader* is anything with ``__len__`` and ``__getitem__(i) -> Sample``
(:class:`~lmkviz.data.folder.FolderSplit`, the synthetic faces of
:mod:`lmkviz.data.synthetic`, ...). Points stay in the continuous pixel
convention of :mod:`lmkviz` throughout.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from lmkviz.data.folder import FolderSplit, discover_datasets
from lmkviz.paths import display_path

__all__ = ["Transform", "to_tensors", "LandmarkDataset", "open_split", "points_per_face"]

Transform = Callable[[np.ndarray, np.ndarray], tuple[torch.Tensor, torch.Tensor]]
"""(image (H, W, 3) uint8, points (K, 2)) -> (image (3, H', W') float32, points (K, 2) float32)."""


def to_tensors(image: np.ndarray, points: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The default transform: no resizing.

    image: (H, W, 3) uint8 RGB -> (3, H, W) float32 in [0, 1].
    points: (K, 2) xy pixels -> (K, 2) float32, unchanged.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8 RGB, got shape {image.shape} dtype {image.dtype}")
    if not (image.flags.writeable and image.flags.c_contiguous):
        image = np.array(image, order="C")
    tensor = torch.from_numpy(image).permute(2, 0, 1).to(torch.float32).div_(255.0)
    return tensor, torch.as_tensor(np.asarray(points, dtype=np.float32)).clone()


class LandmarkDataset(Dataset):
    """A split reader as a ``torch.utils.data.Dataset``.

    split: reader with ``__len__`` and ``__getitem__(i) -> Sample``.
    indices: landmark subset to keep (e.g. from :func:`~lmkviz.data.schemes.parse_subset`),
        or None for all K points. Selection happens *after* ``transform``, so a flip
        can still swap left/right partners that are not in the subset.
    transform: ``(image uint8 (H, W, 3), points (K, 2)) -> (image tensor, points tensor)``;
        default :func:`to_tensors` (float image in [0, 1], no resizing); see
        :func:`lmkviz.data.augment.build_transform`.

    ``ds[i]`` is ``{"image": (3, H, W) float32 in [0, 1], "points": (k, 2) float32
    xy pixels of that image (NaN = invisible), "name": str, "original_size": (2,) int64
    (H, W) of the image before the transform, "original_points": (k, 2) float32 xy
    pixels of that original image}``. The last two let an evaluator map predictions
    on a resized image back to the original pixels (see :mod:`lmkviz.evaluation`). A sample that fails to
    load (e.g. a corrupt image found only when decoding) is reported with
    ``warnings.warn``, recorded in ``skipped`` as ``(file, reason)`` and replaced by
    the next good sample. With ``DataLoader(num_workers > 0)`` each worker keeps its
    own ``skipped`` list.
    """

    def __init__(
        self,
        split: Any,
        indices: Optional[Sequence[int]] = None,
        transform: Optional[Transform] = None,
    ):
        self.split = split
        num_points = getattr(split, "num_points", None)
        if indices is not None:
            indices = tuple(int(i) for i in indices)
            if not indices:
                raise ValueError("indices selects no landmarks; pass None for all points")
            if num_points is not None:
                bad = [i for i in indices if not 0 <= i < num_points]
                if bad:
                    raise ValueError(f"landmark indices {bad} are out of range for {num_points} points")
        self.indices = indices
        self.transform = transform if transform is not None else to_tensors
        self.skipped: list[tuple[str, str]] = []
        self._bad: set[int] = set()

    def __len__(self) -> int:
        return len(self.split)

    def _file(self, index: int) -> str:
        paths = getattr(self.split, "image_paths", None)
        if paths is not None:
            return str(paths[index])
        names = getattr(self.split, "names", None)
        return str(names[index]) if names is not None else f"sample {index}"

    def __getitem__(self, index: int) -> dict:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} samples")
        index %= n
        for step in range(n):
            i = (index + step) % n
            if i in self._bad:
                continue
            try:
                sample = self.split[i]
            except (ValueError, OSError) as err:
                file = self._file(i)
                reason = str(err)
                if reason.startswith(f"{file}: "):
                    reason = reason[len(file) + 2:]
                self._bad.add(i)
                self.skipped.append((file, reason))
                warnings.warn(f"skipping {file}: {reason}", stacklevel=2)
                continue
            image, points = self.transform(sample.image, sample.points)
            points = torch.as_tensor(points, dtype=torch.float32)
            original = torch.as_tensor(np.asarray(sample.points, dtype=np.float32))
            if self.indices is not None:
                points = points[list(self.indices)]
                original = original[list(self.indices)]
            size = torch.tensor(sample.image.shape[:2], dtype=torch.int64)
            return {"image": image, "points": points, "name": sample.name, "original_size": size,
                    "original_points": original}
        raise ValueError(
            f"no sample of this dataset could be loaded ({len(self.skipped)} failures); "
            "run `python -m lmkviz data check` on the dataset folder"
        )


def points_per_face(split: Any) -> int:
    """K of a split reader: its ``num_points``, else the point count of its first sample."""
    return int(getattr(split, "num_points", 0) or split[0].points.shape[0])


def open_split(dataset: Union[str, os.PathLike], split: str = "train", **kwargs: Any) -> Any:
    """A split reader for ``dataset``.

    dataset: a dataset folder in any format of :mod:`lmkviz.data.formats` (LaPa layout,
        COCO keypoints, CSV, iBUG .pts; detected); the name of a dataset found by
        :func:`~lmkviz.data.folder.discover_datasets` (e.g. "face68"); or "synthetic"
        for generated faces (``kwargs`` go to ``SyntheticSplit``: n, size, seed).
    Raises ValueError when the dataset cannot be found or the split holds no usable
    sample ("split 'val' of face68 is empty ..."), so that training and evaluation
    stop with that message instead of failing later.
    """
    if isinstance(dataset, str) and dataset == "synthetic":
        try:
            from lmkviz.data.synthetic import SyntheticSplit
        except ImportError as err:
            raise ValueError(f"synthetic data is not available in this installation ({err})") from None
        return SyntheticSplit(split=split, **kwargs)
    from lmkviz.data.formats import open_folder

    path = Path(dataset)
    if path.is_dir():
        return _non_empty(open_folder(path, split, **kwargs))
    if isinstance(dataset, str) and os.sep not in dataset and "/" not in dataset:
        for info in discover_datasets():
            if info.name == dataset:
                return _non_empty(open_folder(info.path, split, fmt=info.format, **kwargs))
    known = ", ".join(["synthetic"] + [d.name for d in discover_datasets()])
    raise ValueError(
        f"dataset {str(dataset)!r} not found: give a dataset folder (LaPa layout, COCO keypoints, CSV or iBUG "
        f".pts; see `lmkviz data check --help`) or one of: {known} "
        "(set LMKVIZ_DATA to add folders)"
    )


def _non_empty(reader: FolderSplit) -> FolderSplit:
    """``reader``, or a ValueError saying that its split holds no usable sample."""
    if len(reader) == 0:
        root = display_path(reader.root)
        skipped = f"; {len(reader.skipped)} file(s) were skipped" if reader.skipped else ""
        raise ValueError(f"split {reader.split!r} of {root} is empty: no usable image with a landmark file"
                         f"{skipped}; run `python -m lmkviz data check {root}` to see why")
    return reader
