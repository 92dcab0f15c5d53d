"""Download and unpack the LaPa dataset (106 points) from Google Drive.

``download_lapa("data")`` fetches ``LaPa.tgz`` (about 2.37 GB) with gdown into
``data/``, resuming an interrupted download from the partial ``*.part`` file gdown
keeps there, checks its size, and extracts it safely to ``data/LaPa`` (train/val/test
in the LaPa layout, see :mod:`lmkviz.data.folder`). Calling it again once the
dataset is in place does nothing. Every failure the user can act on (no network,
Drive quota, a truncated or corrupt archive, too little disk space) raises
:class:`DownloadError` with a plain message.
"""

from __future__ import annotations

import inspect
import os
import shutil
import tarfile
import threading
import time
import zlib
from pathlib import Path
from typing import Callable, Optional, Union

from lmkviz.data.folder import SPLITS, is_lapa_layout

__all__ = [
    "DownloadError",
    "LAPA_FILE_ID",
    "LAPA_URL",
    "LAPA_ARCHIVE_NAME",
    "LAPA_EXPECTED_SIZE",
    "download_lapa",
    "extract_lapa",
    "check_archive_size",
]

LAPA_FILE_ID = "1XOBoRGSraP50_pS1YPB8_i8Wmw_5L-NG"
"""Google Drive file id of the LaPa release (the one the blog post uses)."""

LAPA_URL = f"https://drive.google.com/uc?id={LAPA_FILE_ID}"

LAPA_ARCHIVE_NAME = "LaPa.tgz"

LAPA_EXPECTED_SIZE = 2_370_000_000
"""Approximate size of the archive in bytes (gdown reports 2.37 GB)."""

MIN_SIZE_FRACTION = 0.95
"""An archive smaller than this fraction of the expected size is rejected."""

POLL_SECONDS = 0.5
"""How often the partial file is measured when gdown has no progress callback."""

Progress = Callable[[int, int], None]
"""``progress(done_bytes, total_bytes)``, called as bytes arrive."""


class DownloadError(RuntimeError):
    """A download or extraction failed for a reason the user can act on; the message says how."""


def _free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


def _partial_files(archive: Path) -> list[Path]:
    # gdown keeps an interrupted download as "<name><8 random chars>.part" next to the output.
    return sorted(archive.parent.glob(f"{archive.name}*.part"))


def _dataset_complete(path: Path) -> bool:
    return all((path / s / "images").is_dir() and (path / s / "landmarks").is_dir() for s in SPLITS)


def check_archive_size(archive: Union[str, os.PathLike], expected: Optional[int] = None) -> None:
    """Raise DownloadError when ``archive`` is far smaller than ``expected`` bytes
    (default :data:`LAPA_EXPECTED_SIZE`).

    A tiny file is usually an HTML page from Google Drive (quota exceeded, access
    denied) saved in place of the archive; it is renamed to ``*.invalid`` so that the
    next attempt downloads again.
    """
    archive = Path(archive)
    expected = LAPA_EXPECTED_SIZE if expected is None else expected
    size = archive.stat().st_size
    if size >= MIN_SIZE_FRACTION * expected:
        return
    with open(archive, "rb") as f:
        head = f.read(512).lstrip().lower()
    looks_html = head.startswith((b"<!doctype", b"<html", b"<"))
    bad = archive.with_name(archive.name + ".invalid")
    os.replace(archive, bad)
    what = "an HTML page (Google Drive quota or access error)" if looks_html else "too small"
    raise DownloadError(
        f"the downloaded file is {size / 1e6:.1f} MB, expected about {expected / 1e9:.2f} GB: it is {what}. "
        f"It was moved to {bad}. Try again later, or download {LAPA_URL} in a browser and save it as {archive}."
    )


def _short(err: BaseException, limit: int = 200) -> str:
    text = str(err).strip()
    first = text.splitlines()[0] if text else type(err).__name__
    return first if len(first) <= limit else first[: limit - 3] + "..."


def _causes(err: BaseException) -> list[BaseException]:
    """``err`` and the exceptions it was raised from, outermost first."""
    chain: list[BaseException] = []
    while err is not None and err not in chain:
        chain.append(err)
        err = err.__cause__ or err.__context__
    return chain


def _explain_failure(err: BaseException, archive: Path, gdown, requests) -> Optional[str]:
    """A plain message for a failed gdown call, or None for errors that are bugs (re-raised)."""
    parts = _partial_files(archive)
    if parts:
        size = sum(p.stat().st_size for p in parts)
        keep = f"the partial download ({size / 1e6:.0f} MB) is kept; run the download again to resume it"
    else:
        keep = "run the download again to retry"
    exceptions = getattr(gdown, "exceptions", None)
    retrieval = getattr(exceptions, "FileURLRetrievalError", ())
    cancelled = getattr(exceptions, "DownloadCancelled", ())
    failed = getattr(exceptions, "DownloadError", ())
    chain = _causes(err)
    if any(isinstance(e, retrieval) for e in chain):
        return (
            "Google Drive refused the download (too many downloads of this file recently, or it is no "
            f"longer public): {_short(err)}. Try again later, or download {LAPA_URL} in a browser and "
            f"save it as {archive}."
        )
    if any(isinstance(e, cancelled) for e in chain):
        return f"download cancelled; {keep}."
    if any(isinstance(e, requests.exceptions.Timeout) for e in chain):
        return f"Google Drive stopped responding (network timeout); {keep}."
    if any(isinstance(e, requests.exceptions.ConnectionError) for e in chain):
        return (
            "cannot reach Google Drive (no network connection, DNS failure or a dropped connection); "
            f"check the connection; {keep}."
        )
    if any(isinstance(e, requests.exceptions.HTTPError) for e in chain):
        return f"Google Drive answered with an error ({_short(err)}); try again later; {keep}."
    if isinstance(err, (requests.exceptions.RequestException, failed)):
        return f"the download failed ({_short(err)}); {keep}."
    if isinstance(err, OSError):
        return f"cannot write {archive} ({err}); check the folder and the free disk space."
    return None


def _fetch(archive: Path, quiet: bool, progress: Optional[Progress], timeout: float, retries: int,
           cancel: Optional[threading.Event]) -> None:
    """Download the archive to ``archive`` with gdown (resuming any partial file)."""
    try:
        import gdown
        import requests
    except ImportError as err:  # pragma: no cover - gdown is a declared dependency
        raise DownloadError(f"gdown is not installed ({err}); run `pip install gdown`") from None

    params = inspect.signature(gdown.download).parameters
    any_keyword = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())

    def supports(name: str) -> bool:  # options differ between gdown versions
        return any_keyword or name in params

    kwargs: dict = {"id": LAPA_FILE_ID, "output": str(archive), "quiet": quiet, "resume": True}
    for name, value in (("timeout", timeout), ("retries", retries), ("cancel", cancel)):
        if supports(name) and value is not None:
            kwargs[name] = value

    stop_polling = threading.Event()
    poller = None
    if progress is not None:
        if supports("progress"):  # gdown >= 6.5 reports every chunk
            kwargs["progress"] = lambda done, total: progress(int(done), int(total or LAPA_EXPECTED_SIZE))
        else:  # older gdown: watch the partial file grow
            def poll() -> None:
                while not stop_polling.wait(POLL_SECONDS):
                    parts = _partial_files(archive)
                    if parts:
                        try:
                            progress(parts[0].stat().st_size, LAPA_EXPECTED_SIZE)
                        except OSError:
                            pass

            poller = threading.Thread(target=poll, daemon=True)
            poller.start()

    try:
        gdown.download(**kwargs)
    except Exception as err:
        message = _explain_failure(err, archive, gdown, requests)
        if message is None:
            raise
        raise DownloadError(message) from None
    finally:
        stop_polling.set()
        if poller is not None:
            poller.join(timeout=2)
    if not archive.is_file():
        raise DownloadError(f"gdown finished without writing {archive}; try again.")


def extract_lapa(archive: Union[str, os.PathLike], dest: Union[str, os.PathLike] = "data") -> Path:
    """Extract a LaPa archive safely to ``dest/LaPa`` and return that path.

    Uses ``tarfile``'s ``"data"`` filter (no absolute paths, no ``..``, no links
    leaving the destination, no device files). The archive is unpacked into a
    hidden temporary folder first and moved into place only when complete. The
    archive must hold a LaPa-layout folder (``LaPa/`` or the splits at its top).
    Raises DownloadError for a corrupt, truncated or unsafe archive.
    """
    archive, dest = Path(archive), Path(dest)
    if not hasattr(tarfile, "data_filter"):  # Python < 3.10.12 / 3.11.4
        raise DownloadError("safe extraction needs Python 3.10.12, 3.11.4 or newer; upgrade Python.")
    target = dest / "LaPa"
    if target.exists():
        if _dataset_complete(target):
            return target
        raise DownloadError(
            f"{target} exists but is not a complete LaPa dataset (train/val/test with images/ and landmarks/); "
            "move it away and run the download again."
        )
    tmp = dest / ".LaPa.extracting"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        try:
            with tarfile.open(archive, "r:*") as tar:
                tar.extractall(tmp, filter="data")
        except tarfile.FilterError as err:
            raise DownloadError(f"{archive} contains an unsafe entry ({err}); it was not extracted.") from None
        except (tarfile.TarError, EOFError, zlib.error) as err:
            raise DownloadError(
                f"{archive} is corrupt or incomplete ({err}); delete it and run the download again."
            ) from None
        except OSError as err:
            raise DownloadError(f"cannot extract {archive} ({err}); check the free disk space.") from None
        candidates = [tmp / "LaPa", tmp] + sorted(p for p in tmp.iterdir() if p.is_dir())
        root = next((c for c in candidates if is_lapa_layout(c)), None)
        if root is None:
            raise DownloadError(
                f"{archive} does not contain a dataset in the LaPa layout "
                "(<split>/images and <split>/landmarks); is it the right file?"
            )
        os.replace(root, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def download_lapa(
    dest: Union[str, os.PathLike] = "data",
    quiet: bool = False,
    progress: Optional[Progress] = None,
    keep_archive: bool = True,
    timeout: float = 60.0,
    retries: int = 3,
    cancel: Optional[threading.Event] = None,
) -> Path:
    """Download LaPa to ``dest/LaPa`` (returns that path); does nothing if it is already there.

    quiet: hide gdown's progress bar and messages.
    progress: optional ``progress(done_bytes, total_bytes)`` called as bytes arrive
        (total is the server's size, or the expected size when unknown).
    keep_archive: keep ``dest/LaPa.tgz`` after extraction (False deletes it).
    timeout, retries: network timeout in seconds and automatic resumes on transient errors.
    cancel: a ``threading.Event`` that stops the download when set (the partial file is kept).

    An interrupted download resumes from gdown's ``*.part`` file in ``dest``. A file
    named ``LaPa.tgz`` already in ``dest`` (e.g. downloaded in a browser) is used
    as is. Raises DownloadError with a plain message on failure.
    """
    dest = Path(dest)
    target = dest / "LaPa"
    if _dataset_complete(target):
        return target
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DownloadError(f"cannot create the folder {dest} ({err}).") from None
    archive = dest / LAPA_ARCHIVE_NAME
    if not archive.is_file():
        partial = sum(p.stat().st_size for p in _partial_files(archive))
        needed = (LAPA_EXPECTED_SIZE - partial) + LAPA_EXPECTED_SIZE  # the archive + its contents
        free = _free_bytes(dest)
        if free < needed:
            raise DownloadError(
                f"not enough disk space in {dest}: {free / 1e9:.1f} GB free, about {needed / 1e9:.1f} GB needed "
                "for the archive and its extracted contents."
            )
        started = time.monotonic()
        _fetch(archive, quiet, progress, timeout, retries, cancel)
        if not quiet:
            print(f"Downloaded {archive} in {time.monotonic() - started:.0f} s")
    check_archive_size(archive)
    if not quiet:
        print(f"Extracting {archive} to {target} ...")
    result = extract_lapa(archive, dest)
    if not keep_archive:
        archive.unlink(missing_ok=True)
    return result
