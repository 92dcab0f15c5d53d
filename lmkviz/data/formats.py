"""Annotation formats in and out: the LaPa layout, iBUG/300-W ``.pts``, COCO keypoints and CSV.

Folders lmkviz reads (each split is ``train``, ``val`` or ``test``; :func:`detect_format`
tells them apart, in this order)::

    lapa   ROOT/SPLIT/images/NAME.jpg  +  ROOT/SPLIT/landmarks/NAME.txt   (see lmkviz.data.folder)
    coco   ROOT/SPLIT.json (COCO keypoints)  +  its images under ROOT/SPLIT/ (the file_name of each)
    csv    ROOT/SPLIT.csv (rows "name,x0,y0,x1,y1,...")  +  its images in ROOT/SPLIT/
    pts    ROOT/SPLIT/NAME.jpg beside ROOT/SPLIT/NAME.pts; or NAME.jpg beside NAME.pts in ROOT
           itself, read as the split "test" (a folder of 300-W such as ibug/ or afw/)

Images are ``.jpg``, ``.jpeg`` or ``.png`` (COCO: any file its ``file_name`` names).
:func:`open_folder` opens a split of any of them as a split reader (the same interface
as :class:`~lmkviz.data.folder.FolderSplit`, which it subclasses), so training, evaluation
and the Dataset browser take these folders as they take a LaPa folder.

Coordinate conventions. lmkviz's own is continuous: pixel ``j`` spans ``[j, j + 1)``,
its centre is ``j + 0.5``. Each format states where the centre of the top-left pixel is:

* ``lapa`` and ``csv``: lmkviz's own convention (centre at 0.5); used as written.
* ``pts`` (iBUG / 300-W): 1-based pixel indices, as in Matlab and as menpo reads them:
  the centre of the top-left pixel is (1, 1). Read as ``x = x_pts - 0.5``, written as
  ``x_pts = x + 0.5``. (A point on the centre of pixel (i, j), 0-based, is written
  ``i + 1 j + 1``.)
* ``coco``: 0-based pixel indices (detectron2's reading of COCO keypoints): the centre
  of the top-left pixel is (0, 0). Read as ``x = x_coco + 0.5``, written as
  ``x_coco = x - 0.5``. Visibility ``v``: 0 = not labelled (read as NaN; written for
  NaN points with x = y = 0), 1 or 2 = labelled (written as 2).

Writing converts in decimal arithmetic from the shortest text of each float32 value,
so reading back gives the same float32 values (round trips are exact), and a file's
values with up to 7 significant digits come back as the same text.

Reading follows the rules of :mod:`lmkviz.data.folder`: every unusable file or record is
skipped with a reason saying what is wrong, never what the file contains; symbolic
links are followed only while they stay inside the dataset folder; a COCO ``file_name``
or a CSV name that leads outside the split's image folder is refused.

COCO details: an annotation with ``face_kpts`` (COCO-WholeBody: 68 face points, iBUG
order) gives those points, unless ``face_valid`` is false; other annotations give their
``keypoints``. Annotations without points (all v = 0, or none given) are not faces and are
passed over without a report. A sample is named after its image file's stem, with
``_<annotation id>`` added when its image holds several faces.

Writing (:func:`convert`, ``lmkviz data convert SRC DST --to lapa|coco|pts|csv``) copies
each image file unchanged. Formats without a mark for unlabelled points (lapa, pts) skip
a face with NaN points, and say so in the report.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np

from lmkviz.data.folder import (
    IMAGE_EXTENSIONS,
    MAX_COORDINATE,
    MAX_LANDMARK_BYTES,
    SPLITS,
    Entry,
    FolderSplit,
    _inside,
    _os_problem,
    _present_splits,
    _reason,
    _scan_stems,
    is_lapa_layout,
    pair_files,
)
from lmkviz.paths import display_path

__all__ = [
    "FORMATS",
    "WRITABLE",
    "FLAT_SPLIT",
    "PTS_OFFSET",
    "COCO_OFFSET",
    "detect_format",
    "present_splits",
    "open_folder",
    "not_a_dataset",
    "read_pts",
    "pts_text",
    "PtsSplit",
    "CocoSplit",
    "CsvSplit",
    "write_split",
    "convert",
    "format_convert_report",
]

PathLike = Union[str, os.PathLike]

FORMATS = ("lapa", "coco", "csv", "pts")
"""Folder formats lmkviz reads, in the order :func:`detect_format` tries them."""

WRITABLE = ("lapa", "coco", "pts", "csv")
"""Formats :func:`convert` writes."""

FLAT_SPLIT = "test"
"""The split name of a folder holding ``.pts`` files directly (no split folders)."""

PTS_OFFSET = 0.5
"""lmkviz x = .pts x - PTS_OFFSET (1-based pixel indices: the top-left centre is 1)."""

COCO_OFFSET = -0.5
"""lmkviz x = COCO x - COCO_OFFSET (0-based pixel indices: the top-left centre is 0)."""

MAX_ANNOTATION_BYTES = 1 << 30
"""COCO JSON and CSV files above this size (1 GiB) are refused unread."""


# --------------------------------------------------------------------------- detection


def _has_suffix(folder: Path, suffix: str) -> bool:
    """True when ``folder`` (not a link leading anywhere: only names are looked at) holds a
    file name ending in ``suffix`` (case-insensitive), hidden files aside."""
    try:
        with os.scandir(folder) as entries:
            return any(e.name.lower().endswith(suffix) and not e.name.startswith(".") for e in entries)
    except OSError:
        return False


def detect_format(path: PathLike) -> Optional[str]:
    """The format of a dataset folder (one of :data:`FORMATS`), or None when it is none of them.

    Only names are looked at (no file is opened): ``lapa`` when a split has images/ and
    landmarks/, ``coco`` when ``SPLIT.json`` exists, ``csv`` when ``SPLIT.csv`` exists,
    ``pts`` when a split folder or the folder itself holds ``.pts`` files.
    """
    root = Path(path)
    if not root.is_dir():
        return None
    if is_lapa_layout(root):
        return "lapa"
    if any((root / f"{s}.json").is_file() for s in SPLITS):
        return "coco"
    if any((root / f"{s}.csv").is_file() for s in SPLITS):
        return "csv"
    if any(_has_suffix(root / s, ".pts") for s in SPLITS) or _has_suffix(root, ".pts"):
        return "pts"
    return None


def present_splits(path: PathLike, fmt: Optional[str] = None) -> list[str]:
    """The splits a dataset folder has in format ``fmt`` (default: detected), in display order."""
    root = Path(path)
    fmt = fmt or detect_format(root)
    if fmt == "lapa":
        return _present_splits(root)
    if fmt in ("coco", "csv"):
        suffix = ".json" if fmt == "coco" else ".csv"
        return [s for s in SPLITS if (root / f"{s}{suffix}").is_file()]
    if fmt == "pts":
        found = [s for s in SPLITS if _has_suffix(root / s, ".pts")]
        return found or ([FLAT_SPLIT] if _has_suffix(root, ".pts") else [])
    return []


def not_a_dataset(root: PathLike) -> ValueError:
    """The error for a folder in none of the formats lmkviz reads."""
    root = display_path(root)
    return ValueError(
        f"{root} is not a dataset in the LaPa layout nor in another layout lmkviz reads: expected "
        f"{root}/<split>/images/ and {root}/<split>/landmarks/ (LaPa), {root}/<split>.json with the images in "
        f"{root}/<split>/ (COCO keypoints), {root}/<split>.csv with the images in {root}/<split>/ (CSV), or "
        f"images beside their .pts files in {root}/<split>/ or in {root} itself (iBUG/300-W), for a split in "
        f"{', '.join(SPLITS)}; pick the folder that contains them"
    )


def open_folder(path: PathLike, split: str = "train", num_points: Optional[int] = None, warn: bool = True,
                fmt: Optional[str] = None) -> FolderSplit:
    """A split reader for a dataset folder in any format of :data:`FORMATS` (``fmt``: detected
    when None). Raises ValueError when the folder is missing or in no known format."""
    root = Path(path)
    if not root.is_dir():
        raise ValueError(f"dataset folder {display_path(root)} does not exist; check the path")
    fmt = fmt or detect_format(root)
    if fmt is None:
        raise not_a_dataset(root)
    if fmt not in READERS:
        raise ValueError(f"unknown dataset format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return READERS[fmt](root, split, num_points=num_points, warn=warn)


def _no_split(root: Path, split: str, needs: str, fmt: str) -> ValueError:
    available = ", ".join(present_splits(root, fmt)) or "none"
    return ValueError(f"{display_path(root)} has no split {split!r} (needs {needs}); available splits: {available}")


# --------------------------------------------------------------------------- shared checks


def _read_limited(path: Path, limit: int, what: str) -> bytes:
    """The bytes of an annotation file, or ValueError naming it (missing, unreadable, too large)."""
    label = display_path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(limit + 1)
    except OSError as err:
        raise ValueError(f"{label}: {_os_problem(err, what)}") from None
    if len(raw) > limit:
        raise ValueError(f"{label}: too large for {what} (over {limit >> 20} MiB)")
    return raw


def _decode_text(raw: bytes, label: str, what: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ValueError(f"{label}: line {line} is not UTF-8 text; {what} are plain text") from None


def _check_values(points: np.ndarray, where: Callable[[int], str]) -> None:
    """ValueError for a point with one coordinate missing, infinity or an absurd value
    (``where(k)`` names the point; NaN pairs mark unlabelled points and pass)."""
    half = np.isnan(points).sum(axis=1) == 1
    if half.any():
        raise ValueError(f"{where(int(np.argmax(half)))} has x or y but not both; give both or neither")
    inf = np.isinf(points).any(axis=1)
    if inf.any():
        raise ValueError(f"{where(int(np.argmax(inf)))} holds infinity; every point needs finite x and y")
    with np.errstate(invalid="ignore"):
        absurd = (np.abs(points) > MAX_COORDINATE).any(axis=1)
    if absurd.any():
        raise ValueError(f"{where(int(np.argmax(absurd)))} holds a coordinate beyond +-{MAX_COORDINATE:,.0f} "
                         "pixels; landmarks must be pixel coordinates of the image")


def _image_inside(folder: Path, relative: str, root_real: str) -> tuple[Optional[Path], Optional[str]]:
    """(the image file ``folder/relative``, None) or (None, what is wrong) for a name read from
    an annotation file: it must be a relative path that stays inside the dataset folder
    (links resolved) and lead to a regular file."""
    if not relative or not isinstance(relative, str) or "\x00" in relative:
        return None, "the image file name is empty or not text"
    parts = Path(relative.replace("\\", "/")).parts
    if Path(relative).is_absolute() or relative.startswith(("/", "\\")) or ".." in parts:
        return None, f"the image file name is not a plain name inside {display_path(folder.name)}/; not followed"
    path = folder.joinpath(*parts)
    if not _inside(os.path.realpath(path), root_real):
        return None, "the image is a symbolic link to a file outside the dataset folder; not followed"
    try:
        if not path.is_file():
            return None, (f"missing image file {display_path(path)}" if not path.exists()
                          else f"{display_path(path)} is not a file")
    except OSError as err:
        return None, _os_problem(err, "image")
    return path, None


def _annotation_file(root: Path, name: str, what: str) -> Path:
    """``root/name`` after checking that it does not lead outside the folder."""
    path = root / name
    if not _inside(os.path.realpath(path), os.path.realpath(root)):
        raise ValueError(f"{display_path(path)}: symbolic link to a file outside the dataset folder; not followed")
    return path


# --------------------------------------------------------------------------- .pts


def read_pts(path: PathLike) -> np.ndarray:
    """Read an iBUG ``.pts`` file: ``version: 1``, ``n_points: K``, ``{``, K lines ``x y``, ``}``.

    Returns (K, 2) float32 in lmkviz's convention (``x = x_pts - 0.5``: .pts values are
    1-based pixel indices). UTF-8 with or without a byte-order mark; blank lines are
    ignored. Raises ValueError naming the file and line for a missing ``n_points``, a
    missing brace, a line that is not two numbers, a count that does not match,
    NaN/inf or values beyond +-:data:`~lmkviz.data.folder.MAX_COORDINATE`. Messages say
    what is wrong, never what the file contains.
    """
    path = Path(path)
    label = display_path(path)
    text = _decode_text(_read_limited(path, MAX_LANDMARK_BYTES, "a .pts file"), label, ".pts files")
    lines = [(no, line.strip()) for no, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise ValueError(f"{label}: the .pts file is empty; it needs 'n_points: K', '{{', K lines 'x y' and '}}'")
    count: Optional[int] = None
    body_start = None
    for i, (no, line) in enumerate(lines):
        if line == "{":
            body_start = i + 1
            break
        key, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"{label}: line {no} should be a header line 'key: value' or '{{'")
        if key.strip().lower() == "n_points":
            try:
                count = int(value.strip())
            except ValueError:
                raise ValueError(f"{label}: line {no} should give the point count as a whole number") from None
    if body_start is None:
        raise ValueError(f"{label}: no line '{{' opens the points")
    if count is None:
        raise ValueError(f"{label}: no 'n_points: K' line before '{{'")
    if count <= 0:
        raise ValueError(f"{label}: n_points is {count}; the count must be positive")
    close = next((i for i in range(body_start, len(lines)) if lines[i][1] == "}"), None)
    if close is None:
        raise ValueError(f"{label}: no line '}}' closes the points")
    if close != len(lines) - 1:
        raise ValueError(f"{label}: line {lines[close + 1][0]} follows the closing '}}'")
    body = lines[body_start:close]
    if len(body) != count:
        raise ValueError(f"{label}: n_points announces {count} points but the file has {len(body)} point lines")
    values = []
    for no, line in body:
        row = line.split()
        if len(row) != 2:
            raise ValueError(f"{label}: line {no} should be two numbers 'x y', found {len(row)} fields")
        try:
            x, y = float(row[0]), float(row[1])
        except ValueError:
            raise ValueError(f"{label}: line {no} is not numeric; write two numbers 'x y'") from None
        if not (np.isfinite(x) and np.isfinite(y)):
            raise ValueError(f"{label}: line {no} holds NaN or infinity; every point needs finite x and y")
        if max(abs(x), abs(y)) > MAX_COORDINATE:
            raise ValueError(f"{label}: line {no} holds a coordinate beyond +-{MAX_COORDINATE:,.0f} pixels; "
                             "landmarks must be pixel coordinates of the image")
        values.append((x, y))
    return (np.array(values, dtype=np.float64) - PTS_OFFSET).astype(np.float32)


def _decimal(value: float) -> Decimal:
    """The shortest decimal that reads back as the same float32."""
    return Decimal(np.format_float_positional(np.float32(value), unique=True, trim="-"))


def _text(value: Decimal) -> str:
    text = format(value.normalize(), "f") if value != 0 else "0"
    return text


def pts_text(points: np.ndarray) -> str:
    """The ``.pts`` file of (K, 2) points in lmkviz's convention (``x_pts = x + 0.5``).
    Raises ValueError for NaN points (the format has no mark for an unlabelled point)."""
    points = np.asarray(points, dtype=np.float32)
    if np.isnan(points).any():
        raise ValueError(f"{int(np.isnan(points).any(axis=1).sum())} unlabelled point(s); .pts files need every point")
    offset = Decimal(str(PTS_OFFSET))
    rows = "".join(f"{_text(_decimal(x) + offset)} {_text(_decimal(y) + offset)}\n" for x, y in points)
    return f"version: 1\nn_points: {len(points)}\n{{\n{rows}}}\n"


class PtsSplit(FolderSplit):
    """A split of a folder of iBUG ``.pts`` files beside their images (``ROOT/SPLIT/`` or,
    without split folders, ``ROOT`` itself as the split :data:`FLAT_SPLIT`)."""

    format = "pts"

    def _collect(self) -> list[Entry]:
        root, split = self.root, self.split
        if not root.is_dir():
            raise ValueError(f"dataset folder {display_path(root)} does not exist; check the path")
        splits = present_splits(root, "pts")
        if not splits:
            raise not_a_dataset(root)
        if split not in splits:
            raise _no_split(root, split, f"images beside .pts files in {split}/", "pts")
        folder = root / split if _has_suffix(root / split, ".pts") else root
        candidates, skipped = pair_files(folder, folder, ".pts", os.path.realpath(root),
                                         lambda stem: f"missing landmark file {stem}.pts")
        self.skipped += skipped
        parsed = []
        for stem, image_path, pts_path in candidates:
            try:
                points = read_pts(pts_path)
            except ValueError as err:
                self.skipped.append((display_path(pts_path), _reason(err, pts_path)))
                continue
            parsed.append(Entry(display_path(stem), image_path, pts_path, display_path(pts_path), points))
        return parsed


# --------------------------------------------------------------------------- COCO


_COCO_CACHE: dict = {}


def _coco_faces(path: Path) -> tuple[list[dict], list[tuple[str, str]]]:
    """The faces of a COCO keypoints file: ([{"ann": id, "file": file_name, "points": (K, 2)
    float32 lmkviz px}], [(label, reason)] of unusable annotations). Cached per file
    version (path, size, modification time), as discovery and the readers of each split
    open the same file."""
    label = display_path(path)
    try:
        st = os.stat(path)
    except OSError as err:
        raise ValueError(f"{label}: {_os_problem(err, 'COCO annotation file')}") from None
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    if key in _COCO_CACHE:
        return _COCO_CACHE[key]
    raw = _read_limited(path, MAX_ANNOTATION_BYTES, "a COCO annotation file")
    try:
        doc = json.loads(_decode_text(raw, label, "COCO files"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{label}: not valid JSON (line {err.lineno}, column {err.colno}); "
                         "a COCO keypoints file is a JSON object") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list) \
            or not isinstance(doc.get("annotations"), list):
        raise ValueError(f"{label}: not a COCO keypoints file: expected a JSON object with lists "
                         "'images' and 'annotations'")
    files: dict = {}
    for image in doc["images"]:
        if isinstance(image, dict) and isinstance(image.get("id"), (int, str)) \
                and isinstance(image.get("file_name"), str):
            files.setdefault(image["id"], image["file_name"])
    faces: list[dict] = []
    problems: list[tuple[str, str]] = []
    for number, ann in enumerate(doc["annotations"], start=1):
        if not isinstance(ann, dict):
            problems.append((f"{label} (annotation {number})", "not a JSON object"))
            continue
        ann_id = ann.get("id", number)
        if not isinstance(ann_id, (int, str)) or isinstance(ann_id, bool):
            ann_id = number
        where = f"{label} (annotation {display_path(str(ann_id))})"
        if "face_kpts" in ann:
            if ann.get("face_valid") is False:
                continue
            values = ann["face_kpts"]
            field = "face_kpts"
        elif "keypoints" in ann:
            values = ann["keypoints"]
            field = "keypoints"
        else:
            continue
        if not isinstance(values, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                   for v in values):
            problems.append((where, f"{field} is not a list of numbers"))
            continue
        if not values:
            continue
        if len(values) % 3:
            problems.append((where, f"{field} holds {len(values)} numbers; expected x, y, v for each point"))
            continue
        triples = np.asarray(values, dtype=np.float64).reshape(-1, 3)
        labelled = triples[:, 2] > 0
        if not labelled.any():
            continue  # a person without a face annotation
        points = np.where(labelled[:, None], triples[:, :2] - COCO_OFFSET, np.nan)
        try:
            _check_values(points, lambda k: f"point {k}")
        except ValueError as err:
            problems.append((where, f"{field} {err}"))
            continue
        image_id = ann.get("image_id")
        if not isinstance(image_id, (int, str)) or image_id not in files:
            problems.append((where, "its image_id is not in the 'images' list"))
            continue
        faces.append({"ann": ann_id, "file": files[image_id], "points": points.astype(np.float32)})
    if len(_COCO_CACHE) > 8:
        _COCO_CACHE.clear()
    _COCO_CACHE[key] = (faces, problems)
    return faces, problems


class CocoSplit(FolderSplit):
    """A split of a COCO keypoints dataset: ``ROOT/SPLIT.json`` with its images under ``ROOT/SPLIT/``."""

    format = "coco"

    def _collect(self) -> list[Entry]:
        root, split = self.root, self.split
        if not root.is_dir():
            raise ValueError(f"dataset folder {display_path(root)} does not exist; check the path")
        json_path = root / f"{split}.json"
        if not json_path.is_file():
            if not present_splits(root, "coco"):
                raise not_a_dataset(root)
            raise _no_split(root, split, f"{split}.json", "coco")
        json_path = _annotation_file(root, f"{split}.json", "COCO annotation file")
        faces, problems = _coco_faces(json_path)
        self.skipped += problems
        self._ann_ids: dict = {}
        root_real = os.path.realpath(root)
        folder = root / split
        per_file = Counter(face["file"] for face in faces)
        stems = Counter(Path(f.replace("\\", "/")).stem for f in per_file)
        parsed, names = [], set()
        label = display_path(json_path)
        for face in faces:
            where = f"{label} (annotation {display_path(str(face['ann']))})"
            image, problem = _image_inside(folder, face["file"], root_real)
            if problem:
                self.skipped.append((where, problem))
                continue
            stem = Path(face["file"].replace("\\", "/")).stem
            name = stem if per_file[face["file"]] == 1 and stems[stem] == 1 else f"{stem}_{face['ann']}"
            if name in names:
                self.skipped.append((where, f"a second face named {display_path(name)!r} (annotation ids repeat)"))
                continue
            names.add(name)
            self._ann_ids[display_path(name)] = face["ann"]
            parsed.append(Entry(display_path(name), image, json_path, where, face["points"]))
        parsed.sort(key=lambda e: e.name)
        return parsed

    @property
    def annotation_ids(self) -> list:
        """The COCO annotation id of each sample (kept when the split is written as COCO again)."""
        return [self._ann_ids[name] for name in self.names]


# --------------------------------------------------------------------------- CSV


def _float_cell(text: str) -> float:
    """An empty cell is NaN (unlabelled); "nan" written out is not a number."""
    text = text.strip()
    if text == "":
        return float("nan")
    value = float(text)
    if value != value:
        raise ValueError("NaN written out")
    return value


def _csv_entries(root: Path, split: str) -> tuple[list[Entry], list[tuple[str, str]]]:
    """The faces of ``ROOT/SPLIT.csv`` (see :class:`CsvSplit`) and [(file, reason)] of the
    rows and images that cannot be used; no image is opened."""
    if not root.is_dir():
        raise ValueError(f"dataset folder {display_path(root)} does not exist; check the path")
    if not (root / f"{split}.csv").is_file():
        if not present_splits(root, "csv"):
            raise not_a_dataset(root)
        raise _no_split(root, split, f"{split}.csv", "csv")
    csv_path = _annotation_file(root, f"{split}.csv", "CSV file")
    label = display_path(csv_path)
    text = _decode_text(_read_limited(csv_path, MAX_ANNOTATION_BYTES, "a CSV file"), label, "CSV files")
    skipped: list[tuple[str, str]] = []
    folder = root / split
    images: dict = {}
    if folder.is_dir():
        images, problems = _scan_stems(folder, IMAGE_EXTENSIONS, os.path.realpath(root))
        skipped += [(display_path(f), reason) for f, reason in problems]
    by_file = {n: n for names in images.values() for n in names}
    rows = list(csv.reader(io.StringIO(text, newline="")))
    parsed: list[Entry] = []
    used: dict = {}
    start = 1 if rows and rows[0] and rows[0][0].strip().lower() == "name" else 0
    for number, row in enumerate(rows[start:], start=start + 1):
        if not row or all(not cell.strip() for cell in row):
            continue
        where = f"{label} (row {number})"
        values = row[1:]
        if len(values) < 2 or len(values) % 2:
            skipped.append((where, f"{len(values)} values after the name; expected x and y for each point "
                                   "(name,x0,y0,x1,y1,...)"))
            continue
        bad = [i for i, v in enumerate(values, start=2) if not _is_number(v)]
        if bad:
            skipped.append((where, f"column {bad[0]} is not a number"))
            continue
        points = np.array([_float_cell(v) for v in values], dtype=np.float64).reshape(-1, 2)
        try:
            _check_values(points, lambda k: f"point {k}")
        except ValueError as err:
            skipped.append((where, str(err)))
            continue
        if np.isnan(points).all():
            skipped.append((where, "no labelled point"))
            continue
        name = row[0].strip()
        file = by_file.get(name) or next(iter(sorted(images.get(name, []))), None)
        if file is None:
            if "/" in name or "\\" in name:
                reason = f"the name must be an image file name in {display_path(split)}/ (no folders)"
            else:
                reason = f"missing image file {display_path(split)}/{display_path(name)}"
            skipped.append((where, reason))
            continue
        if file in used:
            skipped.append((where, f"a second row for {display_path(file)} (kept row {used[file]})"))
            continue
        used[file] = number
        stem = os.path.splitext(file)[0]
        parsed.append(Entry(display_path(stem), folder / file, csv_path, where, points.astype(np.float32)))
    for names in images.values():
        for file in names:
            if file not in used:
                skipped.append((display_path(folder / file), f"no row in {display_path(split)}.csv"))
    parsed.sort(key=lambda e: e.name)
    return parsed, skipped


class CsvSplit(FolderSplit):
    """A split of a CSV dataset: ``ROOT/SPLIT.csv`` (``name,x0,y0,x1,y1,...``, an optional header
    row whose first cell is ``name``; empty cells = an unlabelled point) with its images in
    ``ROOT/SPLIT/``. ``name`` is the image's file name, with or without its suffix. Each row
    is one face; an image without a row is reported."""

    format = "csv"

    def _collect(self) -> list[Entry]:
        parsed, skipped = _csv_entries(self.root, self.split)
        self.skipped += skipped
        return parsed


def _is_number(text: str) -> bool:
    try:
        _float_cell(text)
        return True
    except ValueError:
        return False


READERS: dict[str, type[FolderSplit]] = {"lapa": FolderSplit, "coco": CocoSplit, "csv": CsvSplit, "pts": PtsSplit}
"""Format -> split reader class."""


# --------------------------------------------------------------------------- quick look


def quick_counts(root: Path, fmt: str) -> tuple[dict, Counter]:
    """({split: annotated faces}, Counter of point counts) of a folder, opening no image
    (COCO and CSV files are parsed; of the others a few landmark files per split)."""
    splits: dict[str, int] = {}
    counts: Counter = Counter()
    root_real = os.path.realpath(root)
    for split in present_splits(root, fmt):
        try:
            if fmt == "coco":
                faces, _ = _coco_faces(_annotation_file(root, f"{split}.json", "COCO annotation file"))
                splits[split] = len(faces)
                counts.update(len(f["points"]) for f in faces)
            elif fmt == "csv":
                entries, _ = _csv_entries(root, split)
                splits[split] = len(entries)
                counts.update(len(e.points) for e in entries)
            elif fmt == "pts":
                folder = root / split if split != FLAT_SPLIT or _has_suffix(root / split, ".pts") else root
                paired, _ = pair_files(folder, folder, ".pts", root_real, str)
                splits[split] = len(paired)
                for _, _, pts in paired[:: max(1, len(paired) // 7)][:7]:
                    try:
                        counts[len(read_pts(pts))] += 1
                    except ValueError:
                        pass
        except (ValueError, OSError):
            splits[split] = 0
    return splits, counts


# --------------------------------------------------------------------------- writing


def _lapa_text(points: np.ndarray) -> str:
    if np.isnan(points).any():
        raise ValueError(f"{int(np.isnan(points).any(axis=1).sum())} unlabelled point(s); the LaPa layout needs "
                         "every point")
    return f"{len(points)}\n" + "".join(f"{_text(_decimal(x))} {_text(_decimal(y))}\n" for x, y in points)


def _coco_value(value: float) -> float:
    return float(_decimal(value) + Decimal(str(COCO_OFFSET)))


def _coco_keypoints(points: np.ndarray) -> list:
    out: list = []
    for x, y in np.asarray(points, dtype=np.float32):
        if np.isnan(x) or np.isnan(y):
            out += [0, 0, 0]
        else:
            out += [_coco_value(x), _coco_value(y), 2]
    return out


def _csv_cells(points: np.ndarray) -> list[str]:
    cells = []
    for x, y in np.asarray(points, dtype=np.float32):
        cells += ["", ""] if np.isnan(x) or np.isnan(y) else [_text(_decimal(x)), _text(_decimal(y))]
    return cells


def _suffix(path: Optional[Path]) -> str:
    suffix = path.suffix.lower() if path is not None else ""
    return suffix if suffix else ".png"


def _put_image(reader: Any, index: int, dst: Path) -> None:
    """Copy sample ``index``'s image file unchanged to ``dst`` (or encode it as PNG when the
    reader has no files, e.g. synthetic faces)."""
    paths = getattr(reader, "image_paths", None)
    if paths is not None:
        shutil.copyfile(paths[index], dst)
        return
    from PIL import Image

    Image.fromarray(reader[index].image).save(dst)


def _points_of(reader: Any, index: int) -> np.ndarray:
    getter = getattr(reader, "points", None)
    return np.asarray(getter(index) if callable(getter) else reader[index].points, dtype=np.float32)


def _scheme_names(num_points: int) -> list[str]:
    from lmkviz.data.schemes import scheme_for

    return list(scheme_for(num_points).names)


def write_split(reader: Any, dst: PathLike, split: str, fmt: str,
                progress: Optional[Callable[[int, int], None]] = None) -> tuple[int, list[tuple[str, str]]]:
    """Write every sample of a split reader into dataset folder ``dst`` as split ``split`` in
    format ``fmt`` (one of :data:`WRITABLE`). Images are copied unchanged (no decoding).

    Returns (samples written, [(sample name, reason)] of samples left out: NaN points in a
    format without a mark for them). progress: callable(done, total).
    """
    if fmt not in WRITABLE:
        raise ValueError(f"cannot write format {fmt!r}; choose one of {', '.join(WRITABLE)}")
    dst = Path(dst)
    n = len(reader)
    names = list(getattr(reader, "names", [f"{i:06d}" for i in range(n)]))
    paths = getattr(reader, "image_paths", None)
    skipped: list[tuple[str, str]] = []
    written = 0
    if fmt == "lapa":
        (dst / split / "images").mkdir(parents=True, exist_ok=True)
        (dst / split / "landmarks").mkdir(parents=True, exist_ok=True)
    else:
        (dst / split).mkdir(parents=True, exist_ok=True)
    k = int(getattr(reader, "num_points", 0) or (len(_points_of(reader, 0)) if n else 0))
    coco_images: dict = {}
    coco_annotations: list = []
    csv_rows: list = []
    if fmt == "coco" and paths is not None:
        distinct = list(dict.fromkeys(paths))
        taken = Counter(p.name for p in distinct)
    ann_ids = list(getattr(reader, "annotation_ids", []))  # a COCO source keeps its ids (and names)
    if len(ann_ids) != n or len(set(ann_ids)) != n or not all(isinstance(a, int) for a in ann_ids):
        ann_ids = list(range(1, n + 1))
    for i in range(n):
        name = names[i]
        points = _points_of(reader, i)
        source = paths[i] if paths is not None else None
        try:
            if fmt == "lapa":
                text = _lapa_text(points)
                _put_image(reader, i, dst / split / "images" / f"{name}{_suffix(source)}")
                (dst / split / "landmarks" / f"{name}.txt").write_text(text, encoding="utf-8")
            elif fmt == "pts":
                text = pts_text(points)
                _put_image(reader, i, dst / split / f"{name}{_suffix(source)}")
                (dst / split / f"{name}.pts").write_text(text, encoding="utf-8")
            elif fmt == "csv":
                file = f"{name}{_suffix(source)}"
                _put_image(reader, i, dst / split / file)
                csv_rows.append([file] + _csv_cells(points))
            else:  # coco: one image entry per image file, one annotation per face
                key = source if source is not None else i
                if key not in coco_images:
                    file = source.name if source is not None and taken[source.name] == 1 else f"{name}{_suffix(source)}"
                    _put_image(reader, i, dst / split / file)
                    from lmkviz.images import image_size

                    h, w = image_size(dst / split / file)
                    coco_images[key] = {"id": len(coco_images) + 1, "file_name": file, "width": int(w),
                                        "height": int(h)}
                finite = points[np.isfinite(points).all(axis=1)]
                if not len(finite):
                    raise ValueError("no labelled point")
                lo, hi = finite.min(0), finite.max(0)  # the box of the points (continuous pixels)
                coco_annotations.append({
                    "id": ann_ids[i], "image_id": coco_images[key]["id"], "category_id": 1,
                    "keypoints": _coco_keypoints(points), "num_keypoints": int(len(finite)),
                    "bbox": [round(float(lo[0]), 3), round(float(lo[1]), 3), round(float(hi[0] - lo[0]), 3),
                             round(float(hi[1] - lo[1]), 3)],
                    "area": round(float((hi[0] - lo[0]) * (hi[1] - lo[1])), 3), "iscrowd": 0,
                })
        except ValueError as err:
            skipped.append((name, str(err)))
            continue
        written += 1
        if progress:
            progress(i + 1, n)
    if fmt == "csv":
        buffer = io.StringIO()
        out = csv.writer(buffer, lineterminator="\n")
        out.writerow(["name"] + [f"{axis}{j}" for j in range(k) for axis in "xy"])
        out.writerows(csv_rows)
        (dst / f"{split}.csv").write_text(buffer.getvalue(), encoding="utf-8")
    elif fmt == "coco":
        doc = {
            "info": {"description": "written by lmkviz; keypoints are 0-based pixel indices (COCO)"},
            "images": list(coco_images.values()),
            "annotations": coco_annotations,
            "categories": [{"id": 1, "name": "face", "supercategory": "face",
                            "keypoints": _scheme_names(k) if k else [], "skeleton": []}],
        }
        (dst / f"{split}.json").write_text(json.dumps(doc), encoding="utf-8")
    return written, skipped


def convert(src: PathLike, dst: PathLike, to: str, splits: Optional[list[str]] = None,
            progress: Optional[Callable[[str, int, int], None]] = None) -> dict:
    """Convert dataset folder ``src`` (any format of :data:`FORMATS`, detected) into a new
    folder ``dst`` in format ``to`` (one of :data:`WRITABLE`).

    splits: which splits (default: every split ``src`` has). ``dst`` must not exist or be
    an empty folder. progress: callable(split, done, total).

    Returns ``{"source", "destination", "from", "to", "splits": {split: written},
    "skipped": [{"split", "file", "reason"}]}``: files the reader skipped and samples the
    writer left out. Raises ValueError for a source in no known format, a missing split,
    an unknown target format or a destination that holds files.
    """
    if to not in WRITABLE:
        raise ValueError(f"cannot write format {to!r}; choose one of {', '.join(WRITABLE)}")
    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise ValueError(f"dataset folder {display_path(src)} does not exist; check the path")
    fmt = detect_format(src)
    if fmt is None:
        raise not_a_dataset(src)
    available = present_splits(src, fmt)
    chosen = list(splits) if splits else available
    missing = [s for s in chosen if s not in available]
    if missing:
        raise ValueError(f"{display_path(src)} has no split {', '.join(map(repr, missing))}; "
                         f"available splits: {', '.join(available)}")
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise ValueError(f"{display_path(dst)} already exists and is not an empty folder; choose a new folder")
    if os.path.realpath(dst) == os.path.realpath(src) or _inside(os.path.realpath(dst), os.path.realpath(src)):
        raise ValueError(f"{display_path(dst)} is inside the source dataset; choose a folder outside it")
    report: dict = {"source": str(src), "destination": str(dst), "from": fmt, "to": to, "splits": {}, "skipped": []}
    readers = {s: open_folder(src, s, warn=False, fmt=fmt) for s in chosen}
    points: Counter = Counter()
    for reader in readers.values():
        points[reader.num_points] += len(reader)
    k = max(points.items(), key=lambda kv: (kv[1], kv[0]))[0] if points else 0
    for s, reader in readers.items():  # one point count for the whole dataset, as check_dataset does
        if reader.num_points != k and len(reader):
            readers[s] = open_folder(src, s, num_points=k, warn=False, fmt=fmt)
    dst.mkdir(parents=True, exist_ok=True)
    for s, reader in readers.items():
        report["skipped"] += [{"split": s, "file": f, "reason": r} for f, r in reader.skipped]
        written, left_out = write_split(reader, dst, s, to,
                                        progress=(lambda d, t, s=s: progress(s, d, t)) if progress else None)
        report["splits"][s] = written
        report["skipped"] += [{"split": s, "file": name, "reason": f"not written: {reason}"} for name, reason in left_out]
    return report


def format_convert_report(report: dict) -> str:
    """Human-readable text for a :func:`convert` report."""
    lines = [f"Converted {display_path(report['source'])} ({report['from']}) to "
             f"{display_path(report['destination'])} ({report['to']})"]
    for split, n in report["splits"].items():
        lines.append(f"  {split:<6} {n:>7} faces")
    if report["skipped"]:
        lines.append(f"Skipped {len(report['skipped'])} file(s) or face(s):")
        for item in report["skipped"]:
            lines.append(f"  [{item['split']}] {item['file']}: {item['reason']}")
    return "\n".join(lines)
