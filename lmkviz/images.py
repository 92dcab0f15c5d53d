"""Reading images: one loader, one pixel limit, one set of error messages.

Every image lmkviz reads goes through this module: dataset samples and headers
(:func:`read_image`, :func:`image_size`, used by :mod:`lmkviz.data.folder`) and photos
(:func:`load_image`, used by the Upload page and ``lmkviz predict`` through
:mod:`lmkviz.inference`).

* **Pixel limit**: images above :data:`MAX_PIXELS` (width x height) are refused from
  their header, before any pixel is decoded. This is the guard against decompression
  bombs (a 20000 x 20000 PNG of zeros is a few hundred KB on disk and 1.2 GB decoded).
* **Errors** are :class:`ImageError` (a ``ValueError``) naming the file and saying what is
  wrong in lmkviz's own words: missing, a folder, unreadable, a symbolic link loop, empty,
  not an image, too large, corrupt or truncated. Pillow's own message is never passed
  on, as some quote the file's header bytes.
* **Pixels** come back as (H, W, 3) uint8 RGB: grey, palette and CMYK images are
  converted, alpha is composited over white, 16-bit and float images are rescaled (not
  clipped).
"""

from __future__ import annotations

import errno
import io
import os
import struct
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Optional, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from lmkviz.paths import display_path

__all__ = ["MAX_PIXELS", "MAX_SIDE", "ImageError", "LoadedImage", "read_image", "image_size", "load_image",
           "to_rgb_array"]

PathLike = Union[str, os.PathLike]

MAX_PIXELS = 120_000_000
"""Images with more pixels (width x height) are refused before decoding (decompression-bomb
guard). 120 megapixels lets the largest phone photos (108 MP, 12000 x 9000) and
medium-format camera photos (102 MP) through; decoding that many RGB pixels takes 360 MB.
Uploads are downscaled right after decoding (:data:`MAX_SIDE`); JPEGs are even decoded at
reduced size."""

MAX_SIDE = 2048
"""Longer side above which :func:`load_image` downscales a photo before anything else."""


class ImageError(ValueError):
    """A file or upload that cannot be used as an image (the message names it and says why)."""


# Exceptions Pillow raises for malformed input (plugins raise almost anything).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, TypeError, EOFError, IndexError, KeyError,
                  ZeroDivisionError, OverflowError, struct.error, MemoryError, Image.DecompressionBombError)


def _limit_text() -> str:
    return f"above the limit of {MAX_PIXELS / 1e6:.0f} megapixels (a guard against decompression bombs)"


def _describe(err: BaseException) -> str:
    """What is wrong, for an exception raised while opening or decoding an image."""
    if isinstance(err, FileNotFoundError):
        return "file not found; check the path"
    if isinstance(err, IsADirectoryError):
        return "is a folder, not an image file"
    if isinstance(err, PermissionError):
        return "permission denied: the file cannot be read"
    if isinstance(err, OSError) and err.errno == errno.ELOOP:
        return "symbolic link loop (the link points to itself); fix or remove the link"
    if isinstance(err, UnidentifiedImageError):
        return "not an image file (unknown format); use a JPEG, PNG or WebP image"
    if isinstance(err, Image.DecompressionBombError):
        return f"too large: {_limit_text()}; downscale it first"
    if isinstance(err, MemoryError):
        return "too large to decode in the memory available; downscale it first"
    return "the file is corrupt or truncated (its pixels cannot be decoded)"


def _is_empty(source) -> bool:
    try:
        if isinstance(source, (str, os.PathLike)):
            return os.path.getsize(source) == 0
        if isinstance(source, io.BytesIO):
            return len(source.getbuffer()) == 0
    except OSError:
        pass
    return False


@contextmanager
def _opened(source, label: str) -> Iterator[Image.Image]:
    """``Image.open(source)`` with its size checked against :data:`MAX_PIXELS`; every error
    inside the block (opening or decoding) becomes an :class:`ImageError` for ``label``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # refused below instead
            with Image.open(source) as im:
                check_size(im.size, label)
                yield im
    except ImageError:
        raise
    except UnidentifiedImageError as err:
        reason = "the file is empty" if _is_empty(source) else _describe(err)
        raise ImageError(f"{label}: {reason}") from None
    except _DECODE_ERRORS as err:
        raise ImageError(f"{label}: {_describe(err)}") from None


def check_size(size: tuple[int, int], label: str = "the image") -> None:
    """Raise :class:`ImageError` for an empty image or one above :data:`MAX_PIXELS`.
    size: (W, H) as PIL gives it."""
    w, h = size
    if w <= 0 or h <= 0:
        raise ImageError(f"{label}: the image is empty ({w}x{h} pixels)")
    if w * h > MAX_PIXELS:
        raise ImageError(f"{label}: too large: {w}x{h} is {w * h / 1e6:.0f} megapixels, {_limit_text()}; "
                         "downscale it first")


def to_rgb_array(im: Image.Image) -> np.ndarray:
    """Any PIL mode -> (H, W, 3) uint8 RGB. 16/32-bit and float images are rescaled, not
    clipped; alpha is composited over white (hidden colours under transparency stay hidden)."""
    mode = im.mode
    if mode == "RGB":
        return np.asarray(im, dtype=np.uint8)
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(im)
        if arr.dtype.byteorder not in ("=", "|"):
            arr = arr.astype(arr.dtype.newbyteorder("="))
        arr = arr.astype(np.float64)
        if mode.startswith("I;16"):
            lo, hi = 0.0, 65535.0
        elif mode == "I" and arr.size and arr.min() >= 0 and arr.max() <= 65535:
            # 16-bit PNGs often open as mode "I"; keep their full 16-bit range.
            lo, hi = 0.0, (255.0 if arr.max() <= 255 else 65535.0)
        elif mode == "F" and arr.size and arr.min() >= 0 and arr.max() <= 1:
            lo, hi = 0.0, 1.0
        else:  # arbitrary range: stretch min..max
            finite = arr[np.isfinite(arr)]
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
            if hi <= lo:
                hi = lo + 1.0
        grey = np.clip(np.round((np.nan_to_num(arr, nan=lo) - lo) * (255.0 / (hi - lo))), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"), dtype=np.uint8)
    return np.asarray(im.convert("RGB"), dtype=np.uint8)


# ----------------------------------------------------------------------------- files


def read_image(path: PathLike, exif_transpose: bool = False) -> np.ndarray:
    """Read an image file completely as a writable (H, W, 3) uint8 RGB array.

    ``exif_transpose=False`` keeps the stored pixel order, which dataset annotations
    refer to; pass True for photos taken with a phone. Raises :class:`ImageError`
    (see the module docstring).
    """
    label = display_path(path)
    with _opened(path, label) as im:
        if exif_transpose:
            im = ImageOps.exif_transpose(im)
        im.load()
        array = to_rgb_array(im)
    if not (array.flags.writeable and array.flags.c_contiguous):
        array = np.array(array, order="C")  # a writable copy, safe for torch.from_numpy
    return array


def image_size(path: PathLike) -> tuple[int, int]:
    """(H, W) of an image file from its header, decoding no pixel; :class:`ImageError`
    when it cannot be opened or is above :data:`MAX_PIXELS`."""
    with _opened(path, display_path(path)) as im:
        w, h = im.size
    return h, w


# ----------------------------------------------------------------------------- photos


@dataclass
class LoadedImage:
    """A photo ready for the network: (H, W, 3) uint8 RGB plus what was done to it."""

    array: np.ndarray
    original_size: tuple[int, int]  # (H, W) before any downscaling
    scale: float = 1.0  # array pixels per original pixel
    notes: list[str] = field(default_factory=list)

    @property
    def downscaled_by(self) -> float:
        """Original pixels per array pixel: 1.0, or how much a huge photo was shrunk."""
        return 1.0 / float(self.scale)


def _from_array(arr: np.ndarray, label: str) -> Image.Image:
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ImageError(f"{label}: expected an (H, W, 3) RGB array, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        if arr.dtype == np.uint16:
            arr = (arr.astype(np.float32) * (255.0 / 65535.0)).round().astype(np.uint8)
        elif np.issubdtype(arr.dtype, np.floating):
            arr = (np.clip(arr, 0, 1) * 255).round().astype(np.uint8)
        else:
            raise ImageError(f"{label}: unsupported array dtype {arr.dtype}")
    return Image.fromarray(np.ascontiguousarray(arr[..., :3]))


def _exif_orientation(im: Image.Image) -> int:
    """The EXIF orientation tag (1 = upright; also when absent, out of range or malformed)."""
    try:
        orientation = int(im.getexif().get(0x0112, 1) or 1)
    except Exception:  # malformed EXIF: treat as upright
        return 1
    return orientation if 1 <= orientation <= 8 else 1


def _prepare(im: Image.Image, max_side: int) -> LoadedImage:
    """Orient, downscale and convert an opened image (errors are mapped by the caller)."""
    w, h = im.size
    notes: list[str] = []
    if max(w, h) > max_side and im.format == "JPEG":
        im.draft("RGB", (max_side, max_side))  # decode at reduced size: fast, little memory
    orientation = _exif_orientation(im)
    oriented = ImageOps.exif_transpose(im) if orientation != 1 else im
    if orientation != 1:
        notes.append("rotated according to the photo's EXIF orientation")
    oriented.load()
    ow, oh = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
    if max(oriented.size) > max_side:
        factor = max_side / max(oriented.size)
        new = (max(1, round(oriented.size[0] * factor)), max(1, round(oriented.size[1] * factor)))
        oriented = oriented.resize(new, Image.Resampling.LANCZOS, reducing_gap=3.0)
    arr = np.ascontiguousarray(to_rgb_array(oriented))
    scale = arr.shape[1] / ow
    if scale < 0.999:
        notes.append(f"downscaled from {ow}x{oh} to {arr.shape[1]}x{arr.shape[0]} px")
    if im.mode not in ("RGB", "P") or "transparency" in im.info:
        notes.append(f"converted from {im.mode} to 8-bit RGB")
    return LoadedImage(array=arr, original_size=(oh, ow), scale=scale, notes=notes)


def load_image(source, max_side: int = MAX_SIDE, name: Optional[str] = None) -> LoadedImage:
    """Read an uploaded or local photo robustly.

    source: a path, bytes, a binary file-like object, a PIL image or an (H, W[, C])
        numpy array. name: the file name used in error messages (default: the path).

    EXIF orientation is applied (phone photos); grey, palette, RGBA (over white) and
    16-bit images become 8-bit RGB; images with a side above ``max_side`` are
    downscaled (``notes`` says so). Raises :class:`ImageError` (a ``ValueError``) with a
    plain message for non-images, corrupt or truncated files and images above
    :data:`MAX_PIXELS`.
    """
    if name is not None:
        label = display_path(name)
    elif isinstance(source, (str, os.PathLike)):
        label = display_path(source)
    else:
        label = "the image"
    if isinstance(source, np.ndarray):
        source = _from_array(source, label)
    if isinstance(source, Image.Image):
        check_size(source.size, label)
        try:
            return _prepare(source, max_side)
        except _DECODE_ERRORS as err:
            raise ImageError(f"{label}: {_describe(err)}") from None
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageError(f"{label}: the file is empty")
        source = io.BytesIO(bytes(source))
    with _opened(source, label) as im:
        return _prepare(im, max_side)
