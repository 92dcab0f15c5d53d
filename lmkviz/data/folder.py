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
from typing import Callable, Iterable, NamedTuple, Optional, Union

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


class Entry(NamedTuple):
    """One annotated face found by a split reader, before its image header is read.

    name: the sample's name (unique in the split); image: its image file; source: the
    annotation file it came from; label: how skip reports name it (the file, or the file
    and the record in it); points: (K, 2) float32 in lmkviz's convention (NaN = unlabelled).
    """

    name: str
    image: Path
    source: Path
    label: str
    points: np.ndarray


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


def pair_files(image_dir: Path, landmark_dir: Path, suffix: str, root_real: str,
               missing: Callable[[str], str]) -> tuple[list[tuple[str, Path, Path]], list[tuple[str, str]]]:
    """Pair ``image_dir/NAME.{jpg,jpeg,png}`` with ``landmark_dir/NAME<suffix>`` (the two
    folders may be one), following :func:`_scan_stems`'s rules on links.

    Returns ([(NAME, image, landmark file)] sorted by NAME, [(file, reason)] of what cannot
    be paired: a file skipped by the scan, an image without its landmark file (reason
    ``missing(NAME)``), a landmark file without its image, a second image of one NAME).
    """
    images, image_problems = _scan_stems(image_dir, IMAGE_EXTENSIONS, root_real)
    landmarks, landmark_problems = _scan_stems(landmark_dir, (suffix,), root_real)
    skipped = [(display_path(f), reason) for f, reason in image_problems + landmark_problems]
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
                    skipped.append((display_path(image_dir / name), missing(display_path(stem))))
            else:
                skipped.append((display_path(landmark_dir / landmarks[stem][0]), "missing image file"))
            continue
        image_names = sorted(images[stem])
        for extra in image_names[1:]:
            skipped.append((display_path(image_dir / extra), f"duplicate image for "
                            f"{display_path(stem)!r} (kept {display_path(image_names[0])})"))
        candidates.append((stem, image_dir / image_names[0], landmark_dir / landmarks[stem][0]))
    return candidates, skipped


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

    format = "lapa"
    """The layout this reader reads (see :data:`lmkviz.data.formats.FORMATS`)."""

    def __init__(self, root: PathLike, split: str = "train", num_points: Optional[int] = None, warn: bool = True):
        self.root = Path(root)
        self.split = split
        self.skipped: list[tuple[str, str]] = []
        self._accept(self._collect(), num_points, warn)

    def _collect(self) -> list[Entry]:
        """The annotated faces of the split as :class:`Entry` items, sorted by name; files that
        cannot be used are appended to ``self.skipped``. Readers of other layouts override it."""
        if not self.root.is_dir():
            raise ValueError(f"dataset folder {display_path(self.root)} does not exist; check the path")
        if not is_lapa_layout(self.root):
            raise _not_a_dataset(self.root)
        split = self.split
        image_dir, landmark_dir = _split_dirs(self.root, split)
        if not (image_dir.is_dir() and landmark_dir.is_dir()):
            raise ValueError(
                f"{display_path(self.root)} has no split {split!r} (needs {split}/images/ and {split}/landmarks/); "
                f"available splits: {', '.join(_present_splits(self.root))}"
            )
        candidates, skipped = pair_files(image_dir, landmark_dir, ".txt", os.path.realpath(self.root),
                                         lambda stem: f"missing landmark file landmarks/{stem}.txt")
        self.skipped += skipped

        parsed: list[Entry] = []
        for stem, image_path, landmark_path in candidates:
            try:
                points = read_landmarks(landmark_path)
            except ValueError as err:
                self.skipped.append((display_path(landmark_path), _reason(err, landmark_path)))
                continue
            parsed.append(Entry(display_path(stem), image_path, landmark_path, display_path(landmark_path), points))
        return parsed

    def _accept(self, parsed: list[Entry], num_points: Optional[int], warn: bool) -> None:
        """Keep the entries with the split's point count whose image header reads; the rest
        go to ``self.skipped`` (then warned about when ``warn``)."""
        if num_points is None:
            counts = Counter(len(e.points) for e in parsed)
            # most common count; ties go to the larger count (deterministic)
            num_points = max(counts.items(), key=lambda kv: (kv[1], kv[0]))[0] if counts else 0
        self.num_points = int(num_points)

        self.names: list[str] = []
        self.image_paths: list[Path] = []
        self.landmark_paths: list[Path] = []
        self._points: list[np.ndarray] = []
        sizes: list[tuple[int, int]] = []
        for entry in parsed:
            if len(entry.points) != self.num_points:
                self.skipped.append(
                    (entry.label, f"wrong point count: expected {self.num_points}, found {len(entry.points)}")
                )
                continue
            try:
                sizes.append(image_size(entry.image))
            except ValueError as err:
                self.skipped.append((display_path(entry.image), _reason(err, entry.image)))
                continue
            self.names.append(entry.name)
            self.image_paths.append(entry.image)
            self.landmark_paths.append(entry.source)
            self._points.append(entry.points)
        self._sizes = np.array(sizes, dtype=np.int64).reshape(-1, 2)

        if warn and self.skipped:
            for file, reason in self.skipped:
                warnings.warn(f"skipping {file}: {reason}", stacklevel=3)
            warnings.warn(
                f"{display_path(self.root)}/{self.split}: skipped {len(self.skipped)} of "
                f"{len(self.skipped) + len(self.names)} files; run "
                f"`python -m lmkviz data check {display_path(self.root)}`",
                stacklevel=3,
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
            f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r}, n={len(self)}, "
            f"num_points={self.num_points}, skipped={len(self.skipped)})"
        )


def _reason(err: ValueError, path: Path) -> str:
    """The message of a ValueError from this module without the leading file path."""
    text = str(err)
    prefix = f"{display_path(path)}: "
    return text[len(prefix):] if text.startswith(prefix) else text


# --------------------------------------------------------------------------- checks


def check_dataset(root: PathLike, full: bool = True) -> dict:
    """Validate a dataset folder in any format lmkviz reads (LaPa layout, COCO keypoints,
    CSV, iBUG .pts; see :mod:`lmkviz.data.formats`).

    Returns ``{"splits": {split: usable samples}, "points": K, "skipped": [{"split",
    "file", "reason"}, ...], "root": str, "format": "lapa" | "coco" | "csv" | "pts"}``.
    ``full=True`` also decodes every image completely (catches truncated JPEGs; slow on
    large datasets). Raises ValueError when ``root`` is in none of these formats.
    """
    from lmkviz.data.formats import detect_format, not_a_dataset, open_folder, present_splits

    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"dataset folder {display_path(root)} does not exist; check the path")
    fmt = detect_format(root)
    present = present_splits(root, fmt) if fmt else []
    if not present:
        raise not_a_dataset(root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        splits = {s: open_folder(root, s, warn=False, fmt=fmt) for s in present}
        totals: Counter[int] = Counter()
        for sp in splits.values():
            totals[sp.num_points] += len(sp)
        points = max(totals.items(), key=lambda kv: (kv[1], kv[0]))[0] if totals else 0
        for s, sp in splits.items():
            if sp.num_points != points and len(sp):
                splits[s] = open_folder(root, s, num_points=points, warn=False, fmt=fmt)

    report: dict = {"splits": {}, "points": int(points), "skipped": [], "root": str(root), "format": fmt}
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
    if report.get("format", "lapa") != "lapa":
        lines.append(f"Format: {report['format']}")
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
    that have a landmark file (COCO, CSV: annotated faces); num_points: the most common
    point count of a few landmark files (0 if none); scheme_name: "ibug68", "lapa106" or
    "genericK"; format: one of :data:`lmkviz.data.formats.FORMATS`.
    """

    name: str
    path: Path
    splits: dict = field(hash=False)
    num_points: int
    scheme_name: str
    format: str = "lapa"


def _quick_info(path: Path, fmt: str = "lapa") -> DatasetInfo:
    """Split counts and the point count of a dataset folder, opening no image.

    The point count is the most common count line among a few landmark files
    spread over each split, so one odd file first in alphabetical order does not
    decide it (the full check, :func:`check_dataset`, reports such files)."""
    if fmt != "lapa":
        from lmkviz.data.formats import quick_counts

        splits, counts = quick_counts(path, fmt)
        num_points = counts.most_common(1)[0][0] if counts else 0
        scheme_name = scheme_for(num_points).name if num_points > 0 else "unknown"
        return DatasetInfo(name=path.name, path=path, splits=splits, num_points=num_points,
                           scheme_name=scheme_name, format=fmt)
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
    from lmkviz.settings import kept_datasets

    # folders kept in the user's settings (lmkviz.settings; the Dataset browser's "Add a folder")
    return dirs + [Path(entry) for entry in kept_datasets()]


def discover_datasets(extra_dirs: Optional[Iterable[PathLike]] = None) -> list[DatasetInfo]:
    """Find datasets (in any format of :mod:`lmkviz.data.formats`) without opening any image.

    Looks at ``data/`` (relative to the current directory), the project's own
    ``data/`` folder, every folder in ``$LMKVIZ_DATA`` (``os.pathsep``-separated),
    ``extra_dirs`` and the folders kept in the user's settings
    (:func:`lmkviz.settings.kept_datasets`). A folder is a dataset when it, or one of its
    immediate subfolders, is in a format lmkviz reads. Results are deduplicated by resolved path and
    keep the search order (subfolders sorted by name).
    """
    from lmkviz.data.formats import detect_format

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
            fmt = detect_format(path)
            if fmt is None:
                continue
            resolved = path.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            found.append(_quick_info(path, fmt))
    return found
