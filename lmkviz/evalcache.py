"""Evaluations kept on disk, so that a checkpoint is evaluated on a split once, not once per server.

    result, from_disk = cached_evaluate("runs/RUN/best.pt", "face68", "val", limit=100, keep_heatmaps=True)

An :class:`lmkviz.evaluation.Evaluation` is stored under a key made of

* the checkpoint's **content** (SHA-256 of the file: a retrained ``best.pt`` at the same
  path is a new key, a copied or renamed file is the same one),
* the dataset and split names, the number of images, and a fingerprint of those images
  (their names, sizes, annotated points, and each image file's size and modification time),
* the options that change the result (flip test, decoders, heatmaps kept),
* :data:`FORMAT`, the version of this file layout.

Files are ``<cache root>/evaluations/<key>.npz``: numpy arrays and one JSON string, read with
``allow_pickle=False`` (no code is ever loaded from the cache), written atomically. The cache
root is ``$LMKVIZ_CACHE`` when set, else ``$XDG_CACHE_HOME/lmkviz`` or ``~/.cache/lmkviz``.
The newest :data:`KEEP` files are kept. A file that cannot be read is evaluated again and
replaced. Deleting the folder is always safe.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

__all__ = ["CACHE_ENV", "FORMAT", "KEEP", "cache_root", "file_digest", "split_fingerprint", "cache_key",
           "save_evaluation", "load_evaluation", "cached_evaluate"]

CACHE_ENV = "LMKVIZ_CACHE"
FORMAT = 1
KEEP = 32
"""Evaluation files kept (the least recently used are removed when a new one is written)."""

_DIGESTS: dict[tuple, str] = {}


def cache_root() -> Path:
    """``$LMKVIZ_CACHE``, else ``$XDG_CACHE_HOME/lmkviz``, else ``~/.cache/lmkviz``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lmkviz"


def file_digest(path: Union[str, os.PathLike]) -> str:
    """SHA-256 of a file's bytes (remembered per path, size and modification time)."""
    path = Path(path).resolve()
    st = path.stat()
    memo = (str(path), st.st_size, st.st_mtime_ns)
    if memo not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _DIGESTS[memo] = h.hexdigest()
    return _DIGESTS[memo]


def split_fingerprint(reader: Any, n: int) -> str:
    """A digest of the first ``n`` samples of a split reader without decoding any image: their
    names, and where the reader has them, their image sizes and annotated points and each image
    file's size and modification time. Changes when those images or annotations change."""
    n = min(int(n), len(reader))
    h = hashlib.sha256()
    h.update(json.dumps([str(x) for x in list(getattr(reader, "names", []))[:n]]).encode())
    if hasattr(reader, "all_points") and hasattr(reader, "image_sizes"):
        h.update(np.ascontiguousarray(reader.all_points()[:n], dtype=np.float32).tobytes())
        h.update(np.ascontiguousarray(reader.image_sizes()[:n], dtype=np.int64).tobytes())
    for path in list(getattr(reader, "image_paths", []))[:n]:
        try:
            st = os.stat(path)
            h.update(f"{st.st_size}:{st.st_mtime_ns};".encode())
        except OSError:
            h.update(b"missing;")
    h.update(f"n={n}".encode())
    return h.hexdigest()


def cache_key(checkpoint_digest: str, dataset: str, split: str, n: int, data_fingerprint: str,
              **options: Any) -> str:
    """The file name stem of one evaluation (a SHA-256 of everything that decides its result)."""
    what = {"format": FORMAT, "checkpoint": checkpoint_digest, "dataset": str(dataset), "split": str(split),
            "n": int(n), "data": data_fingerprint, "options": options}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:40]


def save_evaluation(evaluation: Any, path: Union[str, os.PathLike]) -> None:
    """Write an :class:`~lmkviz.evaluation.Evaluation` to ``path`` (.npz, atomically)."""
    from lmkviz.files import atomic_write_bytes

    codec = evaluation.codec.to_dict() if evaluation.codec is not None else None
    meta = {"format": FORMAT, "names": [str(x) for x in evaluation.names], "indices": [int(i) for i in evaluation.indices],
            "flip_test": bool(evaluation.flip_test), "loss": evaluation.loss, "codec": codec,
            "scheme_name": evaluation.scheme_name, "checkpoint": evaluation.checkpoint,
            "dataset": evaluation.dataset, "split": evaluation.split,
            "decoders": list(evaluation.pred), "nme_keys": list(evaluation.nme)}
    arrays = {"meta": np.array(json.dumps(meta)), "target": evaluation.target, "confidence": evaluation.confidence,
              "norm": evaluation.norm, "image_sizes": evaluation.image_sizes}
    arrays.update({f"pred:{m}": p for m, p in evaluation.pred.items()})
    arrays.update({f"nme:{m}": v for m, v in evaluation.nme.items()})
    if evaluation.heatmaps is not None:
        arrays["heatmaps"] = evaluation.heatmaps
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())


def load_evaluation(path: Union[str, os.PathLike]) -> Any:
    """Read an evaluation written by :func:`save_evaluation` (ValueError when it is not one)."""
    from lmkviz.codecs import codec_from_dict
    from lmkviz.evaluation import Evaluation

    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != FORMAT:
                raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT}")
            return Evaluation(
                names=list(meta["names"]), target=data["target"], confidence=data["confidence"],
                pred={m: data[f"pred:{m}"] for m in meta["decoders"]},
                nme={m: data[f"nme:{m}"] for m in meta["nme_keys"]},
                norm=data["norm"], indices=list(meta["indices"]), image_sizes=data["image_sizes"],
                flip_test=bool(meta["flip_test"]), heatmaps=data["heatmaps"] if "heatmaps" in data.files else None,
                loss=meta["loss"], codec=codec_from_dict(meta["codec"]) if meta["codec"] else None,
                scheme_name=meta["scheme_name"], checkpoint=meta["checkpoint"], dataset=meta["dataset"],
                split=meta["split"])
    except (OSError, KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: not a readable lmkviz evaluation ({err}); it will be computed again") from None


def _prune(folder: Path, keep: int) -> None:
    try:
        files = sorted(folder.glob("*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return
    for old in files[keep:]:
        try:
            old.unlink()
        except OSError:
            pass


def cached_evaluate(
    checkpoint: Union[str, os.PathLike],
    data: str,
    split: str,
    *,
    limit: int,
    predictor: Optional[Callable[[], Any]] = None,
    flip_test: bool = False,
    decoders: Optional[Sequence[str]] = None,
    keep_heatmaps: bool = False,
    progress: Optional[Callable[[int, int], None]] = None,
    root: Optional[Union[str, os.PathLike]] = None,
    reader: Any = None,
) -> tuple[Any, bool]:
    """:func:`lmkviz.evaluation.evaluate` of the checkpoint file on the first ``limit`` images,
    read from the cache when it was computed before. Returns ``(evaluation, from_disk)``.

    checkpoint: a checkpoint file, or the name of a shipped one ("default"). predictor: a
    callable returning a loaded :class:`~lmkviz.inference.Predictor` of that file, called only
    when the evaluation has to run (the app passes its cached one). reader: the split reader
    when the caller has it open (else it is opened here). root: the cache root (default
    :func:`cache_root`). A cache that cannot be written is skipped silently.
    """
    from lmkviz.decoding import DECODERS
    from lmkviz.evaluation import evaluate
    from lmkviz.paths import shipped_checkpoint

    path = Path(checkpoint)
    if not path.is_file() and shipped_checkpoint(str(checkpoint)) is not None:
        path = shipped_checkpoint(str(checkpoint))
    if reader is None:
        from lmkviz.data import open_split

        reader = open_split(data, split)
    decoders = tuple(DECODERS if decoders is None else decoders)
    key = cache_key(file_digest(path), data, split, limit, split_fingerprint(reader, limit),
                    flip_test=bool(flip_test), decoders=list(decoders), keep_heatmaps=bool(keep_heatmaps))
    folder = Path(root) if root is not None else cache_root()
    file = folder / "evaluations" / f"{key}.npz"
    if file.is_file():
        try:
            result = load_evaluation(file)
        except ValueError:
            pass
        else:
            try:
                os.utime(file)  # recently used: kept by the pruning
            except OSError:
                pass
            return result, True
    result = evaluate(predictor() if predictor is not None else str(path), data, split, limit=limit,
                      flip_test=flip_test, decoders=decoders, progress=progress, keep_heatmaps=keep_heatmaps)
    try:
        save_evaluation(result, file)
        _prune(file.parent, KEEP)
    except OSError:
        pass
    return result, False
