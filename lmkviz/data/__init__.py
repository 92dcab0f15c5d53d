"""Landmark data: schemes, dataset folders (LaPa layout, COCO, CSV, .pts), PyTorch datasets, augmentation, downloads.

Points are continuous ``(x, y)`` pixel coordinates (pixel ``j`` spans ``[j, j + 1)``,
see :mod:`lmkviz`); NaN marks an invisible point.

* :mod:`~lmkviz.data.schemes`: :class:`LandmarkScheme`, ``IBUG68``, ``LAPA106``,
  :func:`scheme_for`, :func:`parse_subset`, :func:`subset_flip_perm`.
* :mod:`~lmkviz.data.folder`: :func:`read_image`, :func:`read_landmarks`,
  :class:`FolderSplit`, :func:`check_dataset`, :func:`discover_datasets`.
* :mod:`~lmkviz.data.formats`: COCO keypoints, CSV and iBUG .pts folders in and out:
  :func:`detect_format`, :func:`open_folder`, :func:`convert`.
* :mod:`~lmkviz.data.dataset`: :class:`LandmarkDataset`, :func:`open_split`.
* :mod:`~lmkviz.data.augment`: :class:`AugmentConfig`, :func:`build_transform`.
* :mod:`~lmkviz.data.download`: :func:`download_lapa`, :class:`DownloadError`.

Schemes and folders load eagerly (numpy and Pillow only); the torch-based parts
and the downloader are imported on first use so that ``python -m lmkviz data list``
stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from lmkviz.data.folder import (
    IMAGE_EXTENSIONS,
    SPLITS,
    DatasetInfo,
    FolderSplit,
    Sample,
    check_dataset,
    discover_datasets,
    format_check_report,
    is_lapa_layout,
    read_image,
    read_landmarks,
)
from lmkviz.data.schemes import (
    BLOG_FIVE,
    FIVE_POINTS,
    IBUG68,
    LAPA106,
    MAIN_GROUPS,
    SCHEMES,
    LandmarkScheme,
    default_subset,
    flip_perm_for,
    parse_subset,
    scheme_for,
    subset_flip_perm,
    subset_presets,
)

_LAZY = {
    "LandmarkDataset": "lmkviz.data.dataset",
    "open_split": "lmkviz.data.dataset",
    "points_per_face": "lmkviz.data.dataset",
    "to_tensors": "lmkviz.data.dataset",
    "AugmentConfig": "lmkviz.data.augment",
    "build_transform": "lmkviz.data.augment",
    "flip_points": "lmkviz.data.augment",
    "HorizontalFlipLandmarks": "lmkviz.data.augment",
    "DownloadError": "lmkviz.data.download",
    "download_lapa": "lmkviz.data.download",
    "extract_lapa": "lmkviz.data.download",
    "FORMATS": "lmkviz.data.formats",
    "detect_format": "lmkviz.data.formats",
    "open_folder": "lmkviz.data.formats",
    "convert": "lmkviz.data.formats",
}

__all__ = [
    "BLOG_FIVE",
    "IBUG68",
    "LAPA106",
    "MAIN_GROUPS",
    "SCHEMES",
    "LandmarkScheme",
    "parse_subset",
    "scheme_for",
    "subset_flip_perm",
    "flip_perm_for",
    "FIVE_POINTS",
    "subset_presets",
    "default_subset",
    "IMAGE_EXTENSIONS",
    "SPLITS",
    "DatasetInfo",
    "FolderSplit",
    "Sample",
    "check_dataset",
    "discover_datasets",
    "format_check_report",
    "is_lapa_layout",
    "read_image",
    "read_landmarks",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lmkviz.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
