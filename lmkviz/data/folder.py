"""Datasets on disk in the LaPa layout.

Layout (any number of points per face; a ``labels/`` folder, if present, is ignored)::

    <root>/{train,val,test}/images/NAME.jpg        (.jpg, .jpeg or .png)
    <root>/{train,val,test}/landmarks/NAME.txt     line 1: K, then K lines "x y"

Landmarks are continuous pixel coordinates of the stored image (pixel ``j`` spans
``[j, j + 1)``, see :mod:`lmkviz`) and are used as given. Images are read without
EXIF rotation because the annotations refer to the stored pixels (by
:mod:`lmkviz.images`: one pixel limit, one wording of errors).

Scanning is robust to what a folder on disk can hold: symbolic-link loops, broken
links, file names that are not UTF-8, byte-order marks, absurd numbers. Each unusable
file is skipped with a reason that says what is wrong, never what the file contains.
Symbolic links are followed only while they stay inside the dataset folder: a link
(or a linked ``images/`` or ``landmarks/`` folder) leading outside it is skipped, so
that adding a folder cannot expose other files the server can read.

File names are reported with :func:`lmkviz.paths.display_path` (bytes that are not
UTF-8 shown as ``\\xNN``), so names and reasons print and serialise anywhere.

Point the explorer at more datasets with the environment variable ``LMKVIZ_DATA``
(folders separated by ``os.pathsep``), e.g. ``LMKVIZ_DATA=../shared/datasets``.
"""

from __future__ import annotations

import errno
import os
import stat
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Union

import numpy as np

from lmkviz import paths
from lmkviz.data.schemes import scheme_for
from lmkviz.images import image_size, read_image
from lmkviz.paths import display_path

__all__ = [
    "SPLITS",
    "IMAGE_EXTENSIONS",
    "Sample",
    "read_image",
    "read_landmarks",
    "is_lapa_layout",
    "FolderSplit",
    "check_dataset",
    "format_check_report",
    "DatasetInfo",
    "discover_datasets",
]

PathLike = Union[str, os.PathLike]

SPLITS = ("train", "val", "test")
"""Split folder names of the LaPa layout, in display order."""

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
"""Image file suffixes read from ``images/`` (case-insensitive)."""

ENV_VAR = "LMKVIZ_DATA"
"""Environment variable: extra folders (``os.pathsep``-separated) searched for datasets."""

MAX_COORDINATE = 1_000_000.0
"""Landmark coordinates beyond +-this many pixels are refused as absurd (no image lmkviz
reads is that large; a value like 1e39 would even become infinity in float32)."""


@dataclass(frozen=True, eq=False)
class Sample:
    """One annotated face (compared and hashed by identity, as it holds arrays).

    image: (H, W, 3) uint8 RGB.
    points: (K, 2) float32 xy in pixels of ``image``; pixel j spans [j, j + 1); NaN = missing.
    name: file name without suffix.
    """

    image: np.ndarray
    points: np.ndarray
    name: str


# --------------------------------------------------------------------------- files


def _os_problem(err: OSError, what: str = "file") -> str:
    """What is wrong, for an OSError raised while opening a dataset file (no file contents)."""
    if isinstance(err, FileNotFoundError):
        return f"{what} not found"
    if isinstance(err, IsADirectoryError):
        return f"is a folder, not a {what}"
    if isinstance(err, PermissionError):
        return f"permission denied: the {what} cannot be read"
    if err.errno == errno.ELOOP:
        return "symbolic link loop (the link points to itself); fix or remove the link"
    return f"cannot read the {what} ({err.strerror or type(err).__name__})"


MAX_LANDMARK_BYTES = 1 << 20
"""Landmark files above this size (1 MiB; a 106-point file is about 2 KB) are refused unread."""


def read_landmarks(path: PathLike, expected: Optional[int] = None) -> np.ndarray:
    """Read a LaPa landmark file: line 1 the point count K, then K lines "x y".

    Returns (K, 2) float32 xy in pixels of the stored image (continuous convention,
    used as given). UTF-8 with or without a byte-order mark; blank lines are ignored.
    Raises ValueError naming the file and line for a bad count line, a line that is
    not two numbers, a count that does not match the number of lines, NaN/inf values
    or values beyond +-:data:`MAX_COORDINATE`, or ``K != expected``. Messages say what
    is wrong, never what the file contains.
    """
    label = display_path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_LANDMARK_BYTES + 1)
    except OSError as err:
        raise ValueError(f"{label}: {_os_problem(err, 'landmark file')}") from None
    if len(raw) > MAX_LANDMARK_BYTES:
        raise ValueError(f"{label}: too large for a landmark file (over {MAX_LANDMARK_BYTES >> 20} MiB)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ValueError(f"{label}: line {line} is not UTF-8 text; landmark files are plain text") from None
    lines = [(no, line.strip()) for no, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise ValueError(f"{label}: landmark file is empty; line 1 must be the point count")
    no, first = lines[0]
    try:
        count = int(first)
    except ValueError:
        raise ValueError(f"{label}: line {no} should be the point count (a whole number)") from None
    if count <= 0:
        raise ValueError(f"{label}: line {no} gives {count} points; the count must be positive")
    body = lines[1:]
    if len(body) != count:
        raise ValueError(f"{label}: line 1 announces {count} points but the file has {len(body)} point lines")
    rows = [line.split() for _, line in body]
    for (no, _), row in zip(body, rows):
        if len(row) != 2:
            raise ValueError(f"{label}: line {no} should be two numbers 'x y', found {len(row)} fields")
    try:
        points = np.array(rows, dtype=np.float64)
    except ValueError:
        for (no, _), row in zip(body, rows):
            try:
                float(row[0]), float(row[1])
            except ValueError:
                raise ValueError(f"{label}: line {no} is not numeric; write two numbers 'x y'") from None
        raise
    finite = np.isfinite(points).all(axis=1)
    if not finite.all():
        no = body[int(np.argmin(finite))][0]
        raise ValueError(f"{label}: line {no} holds NaN or infinity; every point needs finite x and y")
    plausible = (np.abs(points) <= MAX_COORDINATE).all(axis=1)
    if not plausible.all():
        no = body[int(np.argmin(plausible))][0]
        raise ValueError(f"{label}: line {no} holds a coordinate beyond +-{MAX_COORDINATE:,.0f} pixels; "
                         "landmarks must be pixel coordinates of the image")
    if expected is not None and count != expected:
        raise ValueError(f"{label}: expected {expected} points, found {count}; check the landmark file format")
    return points.astype(np.float32)


def _count_line(path: Path) -> Optional[int]:
    """The point count from line 1 of a landmark file, or None when unreadable."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            for line in f:
                if line.strip():
                    return int(line)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return None


# --------------------------------------------------------------------------- layout


def _split_dirs(root: Path, split: str) -> tuple[Path, Path]:
    return root / split / "images", root / split / "landmarks"


def is_lapa_layout(path: PathLike) -> bool:
    """True when ``path`` has at least one split folder (train/val/test) with images/ and landmarks/."""
    root = Path(path)
    return any(all(d.is_dir() for d in _split_dirs(root, s)) for s in SPLITS)


def _present_splits(root: Path) -> list[str]:
    return [s for s in SPLITS if all(d.is_dir() for d in _split_dirs(root, s))]


def _not_a_dataset(root: Path) -> ValueError:
    root = display_path(root)
    return ValueError(
        f"{root} is not a dataset in the LaPa layout: expected {root}/<split>/images/ and "
        f"{root}/<split>/landmarks/ for a split in {', '.join(SPLITS)}; "
        "pick the folder that contains train/, val/ or test/"
    )


def _inside(path: str, root_real: str) -> bool:
    """True when the resolved ``path`` is ``root_real`` or below it."""
    try:
        return os.path.commonpath([path, root_real]) == root_real
    except ValueError:  # different drives (Windows)
        return False


_OUTSIDE = "symbolic link to {} outside the dataset folder; not followed"


def _scan_stems(folder: Path, suffixes: Iterable[str], root_real: str) -> tuple[dict[str, list[str]], list]:
    """(stem -> file names in ``folder`` with one of ``suffixes`` (case-insensitive),
    [(path, reason)] of matching entries that cannot be used).

    Hidden files and folders named like files are ignored. Symbolic links are followed
    only when they resolve inside ``root_real`` (the resolved dataset folder); loops,
    broken links and links leading outside are reported, as is ``folder`` itself when
    it is a link leading outside.
    """
    suffixes = tuple(suffixes)
    out: dict[str, list[str]] = {}
    problems: list[tuple[Path, str]] = []
    if not _inside(os.path.realpath(folder), root_real):
        return out, [(folder, _OUTSIDE.format("a folder"))]
    try:
        entries = list(os.scandir(folder))
    except OSError as err:
        return out, [(folder, _os_problem(err, "folder"))]
    for entry in entries:
        stem, ext = os.path.splitext(entry.name)
        if ext.lower() not in suffixes or entry.name.startswith("."):
            continue
        path = folder / entry.name
        try:
            if entry.is_symlink():
                if not _inside(os.path.realpath(entry.path), root_real):
                    problems.append((path, _OUTSIDE.format("a file")))
                    continue
                if not stat.S_ISREG(os.stat(entry.path).st_mode):  # follows the link
                    continue
            elif not entry.is_file(follow_symlinks=False):
                continue
        except FileNotFoundError:
            problems.append((path, "broken symbolic link (its target does not exist)"))
            continue
        except OSError as err:
            problems.append((path, _os_problem(err)))
            continue
        out.setdefault(stem, []).append(entry.name)
    return out, problems


class FolderSplit:
    """One split of a LaPa-layout dataset, scanned once.

    ``FolderSplit(root, "train")`` pairs ``images/NAME.*`` with ``landmarks/NAME.txt``
    (sorted by NAME), parses every landmark file and reads every image header (no
    pixel decoding). Unusable pairs are left out and listed in ``skipped`` as
    ``(file, reason)``, each with a ``warnings.warn``. ``num_points`` is the most
    common point count (or ``num_points`` when given); files with another count are
    skipped as "wrong point count".

    ``split[i]`` is a :class:`Sample`; ``len(split)``, ``names``, ``image_paths`` and
    :meth:`image_sizes` never decode pixels.
    """

    def __init__(self, root: PathLike, split: str = "train", num_points: Optional[int] = None, warn: bool = True):
        self.root = Path(root)
        self.split = split
        if not self.root.is_dir():
            raise ValueError(f"dataset folder {display_path(self.root)} does not exist; check the path")
        if not is_lapa_layout(self.root):
            raise _not_a_dataset(self.root)
        image_dir, landmark_dir = _split_dirs(self.root, split)
        if not (image_dir.is_dir() and landmark_dir.is_dir()):
            raise ValueError(
                f"{display_path(self.root)} has no split {split!r} (needs {split}/images/ and {split}/landmarks/); "
                f"available splits: {', '.join(_present_splits(self.root))}"
            )
        self.skipped: list[tuple[str, str]] = []
        root_real = os.path.realpath(self.root)
        images, image_problems = _scan_stems(image_dir, IMAGE_EXTENSIONS, root_real)
        landmarks, landmark_problems = _scan_stems(landmark_dir, (".txt",), root_real)
        self.skipped += [(display_path(f), reason) for f, reason in image_problems + landmark_problems]
        # the partner of a file skipped above is not reported again as "missing", nor is
        # every file of a split whose images/ or landmarks/ folder was refused
        problems = [f for f, _ in image_problems + landmark_problems]
        unusable = {os.path.splitext(f.name)[0] for f in problems}
        folder_refused = image_dir in problems or landmark_dir in problems

        candidates: list[tuple[str, Path, Path]] = []
        for stem in sorted(set(images) | set(landmarks)):
            if stem not in landmarks or stem not in images:
                if stem in unusable or folder_refused:
                    continue
                if stem not in landmarks:
                    for name in images[stem]:
                        self.skipped.append((display_path(image_dir / name),
                                             f"missing landmark file landmarks/{display_path(stem)}.txt"))
                else:
                    self.skipped.append((display_path(landmark_dir / landmarks[stem][0]), "missing image file"))
                continue
            image_names = sorted(images[stem])
            for extra in image_names[1:]:
                self.skipped.append((display_path(image_dir / extra), f"duplicate image for "
                                     f"{display_path(stem)!r} (kept {display_path(image_names[0])})"))
            candidates.append((stem, image_dir / image_names[0], landmark_dir / landmarks[stem][0]))

        parsed: list[tuple[str, Path, Path, np.ndarray]] = []
        for stem, image_path, landmark_path in candidates:
            try:
                points = read_landmarks(landmark_path)
            except ValueError as err:
                self.skipped.append((display_path(landmark_path), _reason(err, landmark_path)))
                continue
            parsed.append((stem, image_path, landmark_path, points))

        if num_points is None:
            counts = Counter(len(p) for *_, p in parsed)
            # most common count; ties go to the larger count (deterministic)
            num_points = max(counts.items(), key=lambda kv: (kv[1], kv[0]))[0] if counts else 0
        self.num_points = int(num_points)

        self.names: list[str] = []
        self.image_paths: list[Path] = []
        self.landmark_paths: list[Path] = []
        self._points: list[np.ndarray] = []
        sizes: list[tuple[int, int]] = []
        for stem, image_path, landmark_path, points in parsed:
            if len(points) != self.num_points:
                self.skipped.append(
                    (display_path(landmark_path), f"wrong point count: expected {self.num_points}, found {len(points)}")
                )
                continue
            try:
                sizes.append(image_size(image_path))
            except ValueError as err:
                self.skipped.append((display_path(image_path), _reason(err, image_path)))
                continue
            self.names.append(display_path(stem))
            self.image_paths.append(image_path)
            self.landmark_paths.append(landmark_path)
            self._points.append(points)
        self._sizes = np.array(sizes, dtype=np.int64).reshape(-1, 2)

        if warn and self.skipped:
            for file, reason in self.skipped:
                warnings.warn(f"skipping {file}: {reason}", stacklevel=2)
            warnings.warn(
                f"{display_path(self.root)}/{split}: skipped {len(self.skipped)} of "
                f"{len(self.skipped) + len(self.names)} files; run "
                f"`python -m lmkviz data check {display_path(self.root)}`",
                stacklevel=2,
            )

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> Sample:
        n = len(self.names)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} samples in {self.root}/{self.split}")
        index %= n
        image = read_image(self.image_paths[index])
        return Sample(image=image, points=self._points[index].copy(), name=self.names[index])

    def points(self, index: int) -> np.ndarray:
        """(K, 2) float32 landmarks of sample ``index`` without reading the image."""
        return self._points[index].copy()

    def all_points(self) -> np.ndarray:
        """(N, K, 2) float32 landmarks of every sample, without reading images."""
        if not self._points:
            return np.zeros((0, self.num_points, 2), dtype=np.float32)
        return np.stack(self._points)

    def image_sizes(self) -> np.ndarray:
        """(N, 2) int64 image sizes as rows (H, W), read from headers at scan time."""
        return self._sizes.copy()

    def __repr__(self) -> str:
        return (
            f"FolderSplit(root={str(self.root)!r}, split={self.split!r}, n={len(self)}, "
            f"num_points={self.num_points}, skipped={len(self.skipped)})"
        )


def _reason(err: ValueError, path: Path) -> str:
    """The message of a ValueError from this module without the leading file path."""
    text = str(err)
    prefix = f"{display_path(path)}: "
    return text[len(prefix):] if text.startswith(prefix) else text


# --------------------------------------------------------------------------- checks


def check_dataset(root: PathLike, full: bool = True) -> dict:
    """Validate a LaPa-layout dataset.

    Returns ``{"splits": {split: usable samples}, "points": K, "skipped": [{"split",
    "file", "reason"}, ...], "root": str}``. ``full=True`` also decodes every image
    completely (catches truncated JPEGs; slow on large datasets). Raises ValueError
    when ``root`` is not a LaPa-layout folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"dataset folder {display_path(root)} does not exist; check the path")
    present = _present_splits(root)
    if not present:
        raise _not_a_dataset(root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        splits = {s: FolderSplit(root, s, warn=False) for s in present}
        totals: Counter[int] = Counter()
        for sp in splits.values():
            totals[sp.num_points] += len(sp)
        points = max(totals.items(), key=lambda kv: (kv[1], kv[0]))[0] if totals else 0
        for s, sp in splits.items():
            if sp.num_points != points and len(sp):
                splits[s] = FolderSplit(root, s, num_points=points, warn=False)

    report: dict = {"splits": {}, "points": int(points), "skipped": [], "root": str(root)}
    for s, sp in splits.items():
        bad: set[int] = set()
        if full:
            for i, path in enumerate(sp.image_paths):
                try:
                    read_image(path)
                except ValueError as err:
                    bad.add(i)
                    report["skipped"].append({"split": s, "file": display_path(path), "reason": _reason(err, path)})
        report["splits"][s] = len(sp) - len(bad)
        report["skipped"].extend({"split": s, "file": f, "reason": r} for f, r in sp.skipped)
    report["skipped"].sort(key=lambda d: (SPLITS.index(d["split"]), d["file"]))
    return report


def format_check_report(report: dict) -> str:
    """Human-readable text for a :func:`check_dataset` report."""
    lines = [f"Dataset: {display_path(report.get('root', '?'))}"]
    scheme = scheme_for(report["points"]).name if report["points"] > 0 else "none"
    lines.append(f"Points per face: {report['points']} (scheme {scheme})")
    total = sum(report["splits"].values())
    for split, n in report["splits"].items():
        lines.append(f"  {split:<6} {n:>7} samples")
    lines.append(f"  {'total':<6} {total:>7} samples")
    skipped = report["skipped"]
    if skipped:
        lines.append(f"Skipped {len(skipped)} file(s):")
        for item in skipped:
            lines.append(f"  [{item['split']}] {item['file']}: {item['reason']}")
    else:
        lines.append("No problems found.")
    return "\n".join(lines)


# --------------------------------------------------------------------------- discovery


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset found by :func:`discover_datasets`.

    name: folder name; path: folder as found; splits: split -> number of image files
    that have a landmark file; num_points: K from the first landmark file (0 if none);
    scheme_name: "ibug68", "lapa106" or "genericK".
    """

    name: str
    path: Path
    splits: dict = field(hash=False)
    num_points: int
    scheme_name: str


def _quick_info(path: Path) -> DatasetInfo:
    """Split counts and the point count of a dataset folder, opening no image.

    The point count is the most common count line among a few landmark files
    spread over each split, so one odd file first in alphabetical order does not
    decide it (the full check, :func:`check_dataset`, reports such files)."""
    splits: dict[str, int] = {}
    counts: Counter = Counter()
    root_real = os.path.realpath(path)
    for split in _present_splits(path):
        image_dir, landmark_dir = _split_dirs(path, split)
        try:
            images = _scan_stems(image_dir, IMAGE_EXTENSIONS, root_real)[0]
            landmarks = _scan_stems(landmark_dir, (".txt",), root_real)[0]
        except OSError:
            continue
        paired = sorted(set(images) & set(landmarks))
        splits[split] = len(paired)
        step = max(1, len(paired) // 7)
        for stem in paired[::step][:7]:
            count = _count_line(landmark_dir / landmarks[stem][0])
            if count and count > 0:
                counts[count] += 1
    num_points = counts.most_common(1)[0][0] if counts else 0
    scheme_name = scheme_for(num_points).name if num_points > 0 else "unknown"
    return DatasetInfo(name=path.name, path=path, splits=splits, num_points=num_points, scheme_name=scheme_name)


def _search_dirs(extra_dirs: Optional[Iterable[PathLike]]) -> list[Path]:
    dirs = [Path("data")] + ([paths.PROJECT_DATA] if paths.PROJECT_DATA is not None else [])
    for entry in os.environ.get(ENV_VAR, "").split(os.pathsep):
        if entry.strip():
            dirs.append(Path(entry.strip()).expanduser())
    for entry in extra_dirs or ():
        dirs.append(Path(entry).expanduser())
    return dirs


def discover_datasets(extra_dirs: Optional[Iterable[PathLike]] = None) -> list[DatasetInfo]:
    """Find LaPa-layout datasets without opening any image.

    Looks at ``data/`` (relative to the current directory), the project's own
    ``data/`` folder, every folder in ``$LMKVIZ_DATA`` (``os.pathsep``-separated)
    and ``extra_dirs``. A folder is a dataset when it, or one of its immediate
    subfolders, has the LaPa layout. Results are deduplicated by resolved path and
    keep the search order (subfolders sorted by name).
    """
    found: list[DatasetInfo] = []
    seen: set[Path] = set()
    for base in _search_dirs(extra_dirs):
        if not base.is_dir():
            continue
        candidates = [base]
        try:
            candidates += sorted((p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")),
                                 key=lambda p: p.name)
        except OSError:
            pass
        for path in candidates:
            if not is_lapa_layout(path):
                continue
            resolved = path.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            found.append(_quick_info(path))
    return found
