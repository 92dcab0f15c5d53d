"""Batch prediction: photos, folders of photos and videos, one prediction per image or frame.

    inputs, failed = collect_inputs(["photos/", "clip.mp4", "face.jpg"])
    with BatchWriter(out_dir="predictions", coco_file="results.json") as writer:
        for result in predict_batch(inputs, predictor):
            writer.write(result)            # one JSON (or CSV) per image / frame, a COCO results file

* Folders: the image and video files directly inside (sorted by name; hidden files and
  subfolders are left alone). Videos (:data:`VIDEO_EXTENSIONS`) are read frame by frame with
  OpenCV's ``VideoCapture`` (every ``frame_step``-th frame), photos with
  :func:`lmkviz.images.load_image` (EXIF orientation, huge images downscaled and the points
  mapped back to the original pixels, decompression bombs refused).
* A file that cannot be read (or a video that cannot be opened) gives a
  :class:`BatchResult` with an ``error`` and the batch goes on.
* Each result's record (:func:`result_record`) is the CLI's ``--json`` object, the one
  prediction schema (``Prediction.to_dict``: format lmkviz-prediction, see the README), with
  ``image.frame`` added for a video frame; a CSV file has the rows of
  :func:`lmkviz.inference.prediction_csv`.
* The COCO results file (:class:`BatchWriter`) is a list of ``{"image_id", "file_name",
  "frame", "category_id": 1, "keypoints": [x, y, score] * K, "score", "bbox"}``, keypoints as
  0-based pixel indices like COCO's (x - 0.5, see :mod:`lmkviz.data.formats`), from one
  decoder (the model's primary decoder by default), the score being the mean peak confidence.

Every coordinate is in the original image's pixels (continuous: pixel j spans [j, j + 1)),
except the COCO file's keypoints as said.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple, Optional, Sequence, Union

import numpy as np

from lmkviz.data.formats import COCO_OFFSET
from lmkviz.paths import display_path

__all__ = ["VIDEO_EXTENSIONS", "PHOTO_EXTENSIONS", "Input", "BatchResult", "collect_inputs", "count_items",
           "video_frames", "predict_batch", "result_record", "BatchWriter", "format_summary"]

PathLike = Union[str, os.PathLike]

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
"""File suffixes read as videos (case-insensitive)."""

PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm")
"""File suffixes taken from folders as photos (a file named on the command line is tried whatever its suffix)."""


class Input(NamedTuple):
    """One thing to predict on: a photo or a video file."""

    path: Path
    kind: str  # "image" or "video"


@dataclass
class BatchResult:
    """The prediction for one photo or video frame, or why there is none.

    label: how reports name it (``photos/a.jpg``, ``clip.mp4#12``); frame: the frame index
    for videos; size: the original (H, W); prediction: an :class:`lmkviz.inference.Prediction`
    in original pixels (None on failure); error: the reason it failed.
    """

    path: Path
    label: str
    frame: Optional[int] = None
    prediction: object = None
    size: Optional[tuple[int, int]] = None
    error: Optional[str] = None
    notes: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


def _kind(path: Path) -> str:
    return "video" if path.suffix.lower() in VIDEO_EXTENSIONS else "image"


def collect_inputs(paths: Iterable[PathLike]) -> tuple[list[Input], list[BatchResult]]:
    """The photos and videos named by ``paths`` (files, or folders: their photo and video
    files, sorted), and a failed :class:`BatchResult` for each path that does not exist or is
    an empty or unreadable folder."""
    inputs: list[Input] = []
    failed: list[BatchResult] = []
    for entry in paths:
        path = Path(entry)
        label = display_path(path)
        if path.is_dir():
            try:
                names = sorted(os.listdir(path))
            except OSError as err:
                failed.append(BatchResult(path, label, error=f"{label}: cannot list the folder "
                                                             f"({err.strerror or type(err).__name__})"))
                continue
            found = [path / n for n in names if not n.startswith(".")
                     and os.path.splitext(n)[1].lower() in PHOTO_EXTENSIONS + VIDEO_EXTENSIONS
                     and (path / n).is_file()]
            if not found:
                failed.append(BatchResult(path, label, error=f"{label}: no photo or video in the folder"))
            inputs += [Input(p, _kind(p)) for p in found]
        elif path.exists():
            inputs.append(Input(path, _kind(path)))
        else:
            failed.append(BatchResult(path, label, error=f"{label}: no such file or folder"))
    return inputs, failed


def _capture(path: Path):
    import cv2

    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise ValueError(f"{display_path(path)}: cannot be opened as a video (unknown format or a damaged file)")
    return capture


def count_items(inputs: Sequence[Input], frame_step: int = 1) -> int:
    """How many predictions ``inputs`` will give (video frame counts from their headers, so an estimate)."""
    import cv2

    total = 0
    for item in inputs:
        if item.kind == "video":
            try:
                capture = _capture(item.path)
            except ValueError:
                total += 1
                continue
            frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            capture.release()
            total += max(1, -(-frames // max(1, frame_step)))
        else:
            total += 1
    return total


def video_frames(path: PathLike, frame_step: int = 1) -> Iterator[tuple[int, np.ndarray]]:
    """(frame index, (H, W, 3) uint8 RGB) of every ``frame_step``-th frame of a video.
    Raises ValueError when the file cannot be opened as a video."""
    import cv2

    capture = _capture(Path(path))
    try:
        index = 0
        while True:
            ok = capture.grab()
            if not ok:
                break
            if index % max(1, frame_step) == 0:
                ok, frame = capture.retrieve()
                if not ok or frame is None:
                    break
                yield index, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        capture.release()


def _predict(source, label: str, predictor, decoders: Sequence[str]) -> tuple:
    """(Prediction in original pixels, original (H, W), notes) of a path or an RGB array."""
    from lmkviz.images import load_image

    loaded = load_image(source, name=label)
    prediction = predictor.predict(loaded.array, decoders=decoders).to_original(loaded)
    return prediction, tuple(int(v) for v in loaded.original_size), prediction.notes


def predict_batch(inputs: Sequence[Input], predictor, decoders: Optional[Sequence[str]] = None,
                  frame_step: int = 1) -> Iterator[BatchResult]:
    """One :class:`BatchResult` per photo and per ``frame_step``-th video frame, in order.

    predictor: an :class:`lmkviz.inference.Predictor` (or an imported model's,
    :mod:`lmkviz.imported`). decoders: None for every decoder of the predictor's codec
    (a SimCC model has argmax, dark and softargmax only). A photo that cannot be read, or a video that cannot be opened,
    gives a result with an ``error``; nothing is raised for bad inputs.
    """
    for item in inputs:
        label = display_path(item.path)
        if item.kind == "image":
            try:
                prediction, size, notes = _predict(item.path, label, predictor, decoders)
            except ValueError as err:
                yield BatchResult(item.path, label, error=str(err))
                continue
            yield BatchResult(item.path, label, prediction=prediction, size=size, notes=notes)
            continue
        frames = 0
        try:
            for index, frame in video_frames(item.path, frame_step):
                frames += 1
                frame_label = f"{label}#{index}"
                try:
                    prediction, size, notes = _predict(frame, frame_label, predictor, decoders)
                except ValueError as err:
                    yield BatchResult(item.path, frame_label, frame=index, error=str(err))
                    continue
                yield BatchResult(item.path, frame_label, frame=index, prediction=prediction, size=size, notes=notes)
        except ValueError as err:
            yield BatchResult(item.path, label, error=str(err))
            continue
        if frames == 0:
            yield BatchResult(item.path, label, error=f"{label}: no frame could be read from the video")


def result_record(result: BatchResult) -> dict:
    """The JSON record of one result: the prediction's own record (``Prediction.to_dict``,
    format lmkviz-prediction; :func:`lmkviz.inference.failed_prediction_dict` for a failure)
    with the frame index added to its ``image`` for a video frame."""
    from lmkviz.inference import failed_prediction_dict

    source = display_path(result.path)
    record = result.prediction.to_dict(source=source) if result.ok else failed_prediction_dict(source, result.error)
    if result.frame is not None:
        record["image"]["frame"] = int(result.frame)
    return record


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.#" else "_" for c in name).replace("#", ".frame")


class BatchWriter:
    """Writes results as they come: one ``NAME.json`` (or ``.csv``) per photo / frame in ``out_dir``
    and/or one COCO results file. Names are the input file's name plus ``.json``
    (``clip.mp4.frame12.json`` for frames), made unique with ``-1``, ``-2``... Failed results
    are written nowhere (the caller reports them).

    decoder: the decoder of the COCO file (default: ``primary``).
    """

    def __init__(self, out_dir: Optional[PathLike] = None, out_format: str = "json",
                 coco_file: Optional[PathLike] = None, decoder: Optional[str] = None, primary: str = "dark"):
        if out_format not in ("json", "csv"):
            raise ValueError(f"out_format must be json or csv, got {out_format!r}")
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.out_format = out_format
        self.coco_file = Path(coco_file) if coco_file is not None else None
        self.decoder = decoder
        self.primary = primary
        self.written: list[Path] = []
        self._taken: set[str] = set()
        self._coco: list[dict] = []
        self._image_ids: dict = {}
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)

    def __enter__(self) -> "BatchWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _name(self, result: BatchResult) -> str:
        base = _safe(result.path.name + (f"#{result.frame}" if result.frame is not None else ""))
        name, n = base, 0
        while name in self._taken:
            n += 1
            name = f"{base}-{n}"
        self._taken.add(name)
        return f"{name}.{self.out_format}"

    def write(self, result: BatchResult) -> None:
        if not result.ok:
            return
        if self.out_dir is not None:
            path = self.out_dir / self._name(result)
            record = result_record(result)
            if self.out_format == "json":
                path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
            else:
                from lmkviz.inference import prediction_csv

                path.write_text(prediction_csv(record), encoding="utf-8")
            self.written.append(path)
        if self.coco_file is not None:
            self._coco.append(self._coco_record(result))

    def _coco_record(self, result: BatchResult) -> dict:
        prediction = result.prediction
        decoder = self.decoder or (self.primary if self.primary in prediction.points else next(iter(prediction.points)))
        if decoder not in prediction.points:
            raise ValueError(f"decoder {decoder!r} was not run; add it to the decoders")
        key = (str(result.path), result.frame)
        image_id = self._image_ids.setdefault(key, len(self._image_ids) + 1)
        keypoints: list = []
        for (x, y), score in zip(np.asarray(prediction.points[decoder], dtype=float), prediction.confidence):
            keypoints += [round(x + COCO_OFFSET, 3), round(y + COCO_OFFSET, 3), round(float(score), 4)]
        box = prediction.face if prediction.face is not None else prediction.crop
        record = {"image_id": image_id, "file_name": display_path(result.path), "category_id": 1,
                  "keypoints": keypoints, "score": round(float(np.mean(prediction.confidence)), 4),
                  "bbox": [round(box.x0, 2), round(box.y0, 2), round(box.width, 2), round(box.height, 2)],
                  "decoder": decoder}
        if result.frame is not None:
            record["frame"] = int(result.frame)
        return record

    def close(self) -> None:
        """Write the COCO results file (once, at the end)."""
        if self.coco_file is not None:
            self.coco_file.parent.mkdir(parents=True, exist_ok=True)
            self.coco_file.write_text(json.dumps(self._coco) + "\n", encoding="utf-8")


def format_summary(total: int, failures: Sequence[BatchResult]) -> str:
    """"12 images: 10 predicted, 2 failed:" and one line per failure (its reason)."""
    lines = [f"{total} input(s): {total - len(failures)} predicted, {len(failures)} failed"
             + (":" if failures else "")]
    for f in failures:
        reason = f.error or "failed"
        lines.append(f"  {reason}" if reason.startswith(f.label) else f"  {f.label}: {reason}")
    return "\n".join(lines)
