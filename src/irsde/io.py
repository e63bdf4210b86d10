"""Image reading and writing, and conversions between arrays and tensors.

Arrays are ``H x W x C`` float32 in ``[0, 1]``; tensors are ``(B, C, H, W)``.

:func:`read_image` / :func:`write_image` are the simple pair (RGB, 8-bit out).
:func:`load_image` / :func:`save_image` keep what a restoration must not lose: the bit
depth (16-bit PNG and TIFF, float TIFF), the ICC profile, grayscale, and the alpha
channel, which is kept aside untouched. EXIF orientation is applied on reading.
Every problem with an input file becomes one :class:`~irsde.errors.InputError` line
naming the file. Writes are atomic (temp file in the same folder, then rename) and
never replace an existing file unless asked.

Pillow decodes 16-bit RGB(A) PNGs to 8 bits, so those are read and written by a small
built-in PNG codec; 16-bit and float TIFFs go through ``tifffile``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import secrets
import stat
import struct
import warnings
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor

from .errors import ConfigError, InputError

log = logging.getLogger(__name__)

#: file name extensions recognised as images when a folder is listed
IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".png",
    ".jpg",
    ".jpeg",
    ".tif",
    ".tiff",
    ".webp",
    ".bmp",
    ".ppm",
    ".pgm",
    ".pnm",
)

_FORMAT_BY_EXT = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".ppm": "PPM",
    ".pgm": "PPM",
    ".pnm": "PPM",
}
#: formats that can hold 16 bits per channel (written by this module)
_DEEP_FORMATS = ("PNG", "TIFF")
#: formats that can hold an alpha channel
_ALPHA_FORMATS = ("PNG", "TIFF", "WEBP")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: BT.601 luma weights (the Y of the metrics, without its 16..235 range): how a colour
#: image becomes gray throughout the toolkit
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def max_pixels() -> int:
    """Largest image (in pixels) accepted: ``$IRSDE_MAX_PIXELS`` or Pillow's limit."""
    env = os.environ.get("IRSDE_MAX_PIXELS", "").strip()
    if not env:
        return int(Image.MAX_IMAGE_PIXELS or 89_478_485)
    if not env.isdigit() or len(env) > 15 or int(env) < 1:
        raise ConfigError(f"IRSDE_MAX_PIXELS={env[:40]!r}: not a whole number of pixels >= 1")
    return int(env)


@dataclass
class ImageData:
    """An image as read from a file, with what is needed to write it back faithfully.

    Attributes:
        pixels: ``H x W x C`` float32 in ``[0, 1]``, ``C`` = 1 (gray) or 3 (RGB).
        alpha: ``H x W`` alpha channel in its original dtype (untouched), or None.
        mode: the file's original mode (Pillow naming, e.g. ``"RGB"``, ``"I;16"``, ``"P"``).
        bit_depth: bits per channel of the source: 8, 16, or 32 (float).
        icc_profile: the embedded ICC profile, or None.
        format: ``"PNG"``, ``"JPEG"``, ``"TIFF"``, ``"WEBP"``, ... or None.
        path: the file it came from, if any.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    mode: str = "RGB"
    bit_depth: int = 8
    icc_profile: bytes | None = None
    format: str | None = None
    path: Path | None = None

    @property
    def gray(self) -> bool:
        return self.pixels.shape[2] == 1

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    def rgb(self) -> np.ndarray:
        """The pixels as ``H x W x 3`` float32 (gray replicated)."""
        if self.gray:
            return np.repeat(self.pixels, 3, axis=2)
        return self.pixels

    def with_pixels(self, pixels: np.ndarray) -> ImageData:
        """A copy holding new pixels (gray again if this image is gray); the rest is kept.

        A new size (e.g. x4 super-resolution) resizes the alpha channel to match.
        """
        pixels = np.asarray(pixels, dtype=np.float32)
        if pixels.ndim == 2:
            pixels = pixels[..., None]
        if self.gray and pixels.shape[2] == 3:
            pixels = (pixels @ LUMA)[..., None]
        elif not self.gray and pixels.shape[2] == 1:
            pixels = np.repeat(pixels, 3, axis=2)
        alpha = self.alpha
        if alpha is not None and alpha.shape != pixels.shape[:2]:
            alpha = _resize_channel(alpha, pixels.shape[:2])
        return dataclasses.replace(self, pixels=pixels, alpha=alpha)


def _resize_channel(ch: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bicubic resize of one channel to ``(H, W)``, keeping its dtype."""
    im = Image.fromarray(ch.astype(np.float32), mode="F")
    out = np.asarray(im.resize((size[1], size[0]), Image.Resampling.BICUBIC))
    info = np.iinfo(ch.dtype) if ch.dtype.kind in "ui" else None
    if info is None:
        return out.astype(ch.dtype)
    return np.clip(np.rint(out), info.min, info.max).astype(ch.dtype)


# ---------------------------------------------------------------------------- reading
def load_image(path: str | os.PathLike, *, limit: int | None = None) -> ImageData:
    """Read an image file faithfully (bit depth, alpha, ICC, gray), EXIF orientation applied.

    Raises :class:`InputError` with one line naming the file for anything unusable: a
    missing, empty, unreadable, truncated or corrupt file, a directory, a broken symbolic
    link, something that is not an image, an animated image (GIF, APNG, WebP: refused
    rather than silently reduced to one frame), an image over ``limit`` pixels
    (decompression bomb), or NaN/inf.
    """
    path = Path(path)
    _check_file(path)
    limit = limit or max_pixels()
    try:
        head = _head(path)
        if head.startswith(_PNG_SIGNATURE) and _png_is_deep(head):
            data = _load_png16(path, limit)
        elif head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
            data = _load_tiff(path, limit)
        else:
            data = _load_pillow(path, limit)
    except InputError:
        raise
    except PermissionError:
        raise InputError(f"{path}: cannot read the file (permission denied)") from None
    except MemoryError:
        raise InputError(f"{path}: image too large to decode in memory") from None
    except Exception as err:
        raise InputError(f"{path}: {_describe(err)}") from None
    if not np.isfinite(data.pixels).all():
        raise InputError(f"{path}: image contains NaN or infinite values")
    data.path = path
    return data


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not an image file")
    if not path.exists():
        if path.is_symlink():
            raise InputError(f"{path}: broken symbolic link (its target does not exist)")
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: cannot read the file (permission denied)")


def _head(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(32)


def _describe(err: BaseException) -> str:
    """A short, user-facing description of a decoding error."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    low = text.lower()
    if "cannot identify image file" in low:
        return "not an image file (or an unsupported format)"
    if "truncated" in low or "incomplete" in low or isinstance(err, EOFError):
        return f"truncated or corrupt image ({text})"
    if isinstance(err, Image.DecompressionBombError | Image.DecompressionBombWarning):
        return f"image too large, refused as a possible decompression bomb ({text})"
    return f"cannot decode image ({text})"


def _check_size(width: int, height: int, limit: int) -> None:
    if width <= 0 or height <= 0:
        raise ValueError(f"invalid image size {width}x{height}")
    if width * height > limit:
        raise InputError(
            f"image of {width}x{height} pixels exceeds the limit of {limit} pixels "
            "(possible decompression bomb; raise IRSDE_MAX_PIXELS to allow it)"
        )


def _refuse_frames(path: Path, n: object) -> None:
    raise InputError(
        f"{path}: animated or multi-page image ({n} frames) is not supported; "
        "extract the frame to restore first"
    )


def _pillow_bomb(err: Image.DecompressionBombError, limit: int) -> InputError:
    """Pillow's hard size refusal, worded with irsde's limit."""
    found = re.search(r"\((\d+) pixels\)", str(err))
    size = f"{found.group(1)} pixels" if found else "its size"
    return InputError(
        f"image of {size} exceeds the limit of {min(limit, 2 * (Image.MAX_IMAGE_PIXELS or 0))} "
        "pixels (possible decompression bomb; raise IRSDE_MAX_PIXELS to allow it)"
    )


def _load_pillow(path: Path, limit: int) -> ImageData:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # _check_size decides
        try:
            opened = Image.open(path)
        except Image.DecompressionBombError as err:
            raise InputError(f"{path}: {_pillow_bomb(err, limit)}") from None
        with opened as im:
            try:
                _check_size(*im.size, limit)
            except InputError as err:
                raise InputError(f"{path}: {err}") from None
            if getattr(im, "is_animated", False):
                _refuse_frames(path, getattr(im, "n_frames", "?"))
            fmt = im.format
            mode = im.mode
            icc = im.info.get("icc_profile")
            im.load()
            im = ImageOps.exif_transpose(im)
            return _from_pillow(im, mode, fmt, icc or None)


def _from_pillow(im: Image.Image, mode: str, fmt: str | None, icc: bytes | None) -> ImageData:
    """Convert a decoded Pillow image to :class:`ImageData`."""
    alpha = None
    bit_depth = 8
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        arr = np.asarray(im).astype(np.float64)
        if im.mode == "I" and arr.max(initial=0) > 65535:
            arr = arr / float(2**32 - 1)
        else:
            arr = arr / 65535.0
            bit_depth = 16
        pixels = arr.astype(np.float32)[..., None]
    elif im.mode == "F":
        pixels = np.asarray(im, dtype=np.float32)[..., None]
        bit_depth = 32
    elif im.mode in ("1", "L"):
        pixels = _u8(np.asarray(im.convert("L")))[..., None]
    elif im.mode in ("LA", "La", "PA") or (im.mode == "P" and _has_transparency(im)):
        if im.mode == "P" or im.mode == "PA":
            im = im.convert("RGBA")
            arr = np.asarray(im)
            pixels, alpha = _u8(arr[..., :3]), arr[..., 3].copy()
        else:
            arr = np.asarray(im.convert("LA"))
            pixels, alpha = _u8(arr[..., :1]), arr[..., 1].copy()
    elif im.mode in ("RGBA", "RGBa"):
        arr = np.asarray(im.convert("RGBA"))
        pixels, alpha = _u8(arr[..., :3]), arr[..., 3].copy()
    else:
        if im.mode == "CMYK" and icc:
            log.warning("CMYK image: converted to RGB; its CMYK ICC profile is dropped")
            icc = None
        pixels = _u8(np.asarray(im.convert("RGB")))
    if bit_depth == 32:
        pixels = _clip_float(pixels)
    return ImageData(pixels, alpha, mode, bit_depth, icc, fmt)


def _has_transparency(im: Image.Image) -> bool:
    return "transparency" in im.info


def _u8(arr: np.ndarray) -> np.ndarray:
    return arr.astype(np.float32) / 255.0


def _clip_float(pixels: np.ndarray) -> np.ndarray:
    if not np.isfinite(pixels).all():
        return pixels  # reported by load_image
    lo, hi = float(pixels.min(initial=0)), float(pixels.max(initial=0))
    if lo < -1e-3 or hi > 1 + 1e-3:
        log.warning("float image values span [%g, %g]; clipped to [0, 1]", lo, hi)
    return np.clip(pixels, 0.0, 1.0)


def _orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1..8) to an ``H x W [x C]`` array, like exif_transpose."""
    ops: dict[int, Callable[[np.ndarray], np.ndarray]] = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a.swapaxes(0, 1), 2),
        8: lambda a: np.rot90(a, 1),
    }
    op = ops.get(int(orientation))
    return np.ascontiguousarray(op(arr)) if op else arr


def _split(arr: np.ndarray, maxval: float, has_alpha: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Integer ``H x W x C`` array -> float pixels in [0, 1] and the untouched alpha."""
    if arr.ndim == 2:
        arr = arr[..., None]
    alpha = arr[..., -1].copy() if has_alpha else None
    color = arr[..., :-1] if has_alpha else arr
    if color.shape[2] not in (1, 3):
        color = color[..., :3] if color.shape[2] > 3 else color[..., :1]
    if color.dtype.itemsize <= 2:  # exact in float32: no float64 copy of the image
        return color.astype(np.float32) / np.float32(maxval), alpha
    return (color.astype(np.float64) / maxval).astype(np.float32), alpha


# 16-bit PNG -----------------------------------------------------------------------
def _png_is_deep(head: bytes) -> bool:
    """Whether the PNG header says 16 bits per channel (which Pillow reduces to 8)."""
    return len(head) >= 29 and head[12:16] == b"IHDR" and head[24] == 16


def _png_chunks(data: memoryview):
    """``(type, body)`` of each chunk, CRC checked; bodies are views (no copies)."""
    pos = len(_PNG_SIGNATURE)
    while pos < len(data):
        if pos + 12 > len(data):
            raise ValueError("truncated PNG (chunk header cut off)")
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        ctype = bytes(ctype)
        body = data[pos + 8 : pos + 8 + length]
        crc = data[pos + 8 + length : pos + 12 + length]
        if len(body) < length or len(crc) < 4:
            raise ValueError("truncated PNG (chunk cut off)")
        if zlib.crc32(body, zlib.crc32(ctype)) != struct.unpack(">I", crc)[0]:
            raise ValueError(f"corrupt PNG (bad CRC in {ctype.decode('latin-1')} chunk)")
        yield ctype, body
        if ctype == b"IEND":
            return
        pos += 12 + length
    raise ValueError("truncated PNG (no IEND chunk)")


def inflate(
    chunks: Iterable[bytes], size: int, what: str, bound: str = "its header promises"
) -> bytearray:
    """A zlib stream fed in ``chunks``, inflated to at most ``size`` bytes.

    Raises :class:`InputError` (a possible decompression bomb) as soon as the stream
    would give more than ``size`` bytes; a shorter stream is returned as it is.
    """
    dec = zlib.decompressobj()
    out = bytearray()
    for chunk in chunks:
        out += dec.decompress(chunk, size + 1 - len(out))
        if len(out) > size:
            raise _too_much(what, size, bound)
        if dec.eof:
            break
    return out


def _png_icc(body: bytes) -> bytes:
    """The profile of an iCCP chunk, inflated within Pillow's bound for PNG text chunks."""
    from PIL.PngImagePlugin import MAX_TEXT_CHUNK

    end = body.find(b"\x00")
    if end < 0 or end + 2 > len(body):
        raise ValueError("corrupt PNG (bad iCCP chunk)")
    what, bound = "the ICC profile (iCCP chunk)", "allowed for a profile"
    return bytes(inflate([body[end + 2 :]], MAX_TEXT_CHUNK, what, bound))


def _load_png16(path: Path, limit: int) -> ImageData:
    try:
        return _decode_png16(path, limit)
    except InputError as err:
        if str(err).startswith(str(path)):
            raise
        raise InputError(f"{path}: {err}") from None


def _decode_png16(path: Path, limit: int) -> ImageData:
    data = memoryview(path.read_bytes())
    idat: list[memoryview] = []
    icc = exif = None
    hdr = None
    for ctype, body in _png_chunks(data):
        if ctype == b"IHDR":
            if len(body) != 13:
                raise ValueError("corrupt PNG (bad IHDR chunk)")
            hdr = struct.unpack(">IIBBBBB", body)
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"iCCP":
            icc = _png_icc(bytes(body))
        elif ctype == b"eXIf":
            exif = bytes(body)
        elif ctype == b"acTL":
            _refuse_frames(path, struct.unpack(">I", body[:4])[0] if len(body) >= 4 else "?")
    if hdr is None:
        raise ValueError("corrupt PNG (no IHDR chunk)")
    width, height, depth, ctype_, _, _, interlace = hdr
    try:
        _check_size(width, height, limit)
    except InputError as err:
        raise InputError(f"{path}: {err}") from None
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype_)
    if depth != 16 or channels is None:
        raise ValueError(f"unsupported PNG (bit depth {depth}, color type {ctype_})")
    if interlace:
        log.warning("%s: interlaced 16-bit PNG read with 8-bit precision", path)
        return _load_pillow(path, limit)
    raw = inflate(idat, height * (1 + 2 * channels * width), "the image data (IDAT)")
    del idat, data, body  # the file's bytes: only the inflated data is needed now
    arr = _png_unfilter(raw, width, height, 2 * channels)
    del raw
    arr = arr.view(">u2").reshape(height, width, channels).astype(np.uint16)
    if exif:
        ex = Image.Exif()
        ex.load(exif)
        arr = _orient(arr, ex.get(0x0112, 1))
    pixels, alpha = _split(arr, 65535.0, channels in (2, 4))
    mode = {1: "I;16", 2: "LA;16", 3: "RGB;16", 4: "RGBA;16"}[channels]
    return ImageData(pixels, alpha, mode, 16, icc, "PNG")


def _png_unfilter(raw: bytes, width: int, height: int, bpp: int) -> np.ndarray:
    """Undo PNG scanline filters -> ``(H, W * bpp)`` uint8 bytes."""
    stride = width * bpp
    buf = np.frombuffer(raw, dtype=np.uint8)
    if buf.size < height * (stride + 1):
        raise ValueError("truncated PNG (image data too short)")
    rows = buf[: height * (stride + 1)].reshape(height, stride + 1)
    ftype = rows[:, 0]
    if ftype.max(initial=0) > 4:
        raise ValueError("corrupt PNG (bad filter type)")
    filt = rows[:, 1:].reshape(height, width, bpp)  # a view: no copy
    if ftype.max(initial=0) <= 2:
        out = _unfilter_simple(filt, ftype)
    else:
        out = _unfilter_wavefront(filt, ftype)
    return out.reshape(height, stride)


def _unfilter_simple(filt: np.ndarray, ftype: np.ndarray) -> np.ndarray:
    """Rows filtered with None / Sub / Up only: vectorized per row (uint8 wraps mod 256)."""
    out = np.empty(filt.shape, dtype=np.uint8)
    prev = np.zeros(filt.shape[1:], dtype=np.uint8)
    for r in range(filt.shape[0]):
        row = filt[r]
        if ftype[r] == 1:
            row = np.cumsum(row, axis=0, dtype=np.uint8)
        elif ftype[r] == 2:
            row = row + prev
        out[r] = row
        prev = out[r]
    return out


def _unfilter_wavefront(filt: np.ndarray, ftype: np.ndarray) -> np.ndarray:
    """General unfiltering (Average, Paeth) along anti-diagonals: ``H + W`` numpy steps."""
    h, w, bpp = filt.shape
    rec = np.zeros((h + 1, w + 1, bpp), dtype=np.uint8)
    for k in range(h + w - 1):
        r = np.arange(max(0, k - w + 1), min(h - 1, k) + 1)
        c = k - r
        a, b, d = (rec[i, j].astype(np.int16) for i, j in ((r + 1, c), (r, c + 1), (r, c)))
        t = ftype[r][:, None]
        p = a + b - d
        pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - d)
        paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, d))
        pred = np.select([t == 0, t == 1, t == 2, t == 3], [0, a, b, (a + b) >> 1], paeth)
        rec[r + 1, c + 1] = (filt[r, c] + pred) & 0xFF
    return np.ascontiguousarray(rec[1:, 1:])


def _png16_bytes(arr: np.ndarray, icc: bytes | None) -> bytes:
    """Encode an ``H x W x C`` uint16 array (C = 1..4) as a 16-bit PNG (Sub filter)."""
    h, w, c = arr.shape
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    raw = (
        np.ascontiguousarray(arr, dtype=">u2").view(np.uint8).reshape(h, w, 2 * c).astype(np.int16)
    )
    sub = raw.copy()
    sub[:, 1:] -= raw[:, :-1]
    rows = np.empty((h, 1 + w * 2 * c), dtype=np.uint8)
    rows[:, 0] = 1
    rows[:, 1:] = (sub & 0xFF).astype(np.uint8).reshape(h, -1)

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    out = [_PNG_SIGNATURE, chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0))]
    if icc:
        out.append(chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc)))
    out.append(chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)))
    out.append(chunk(b"IEND", b""))
    return b"".join(out)


# TIFF -------------------------------------------------------------------------------
def _load_tiff(path: Path, limit: int) -> ImageData:
    """TIFF via tifffile (any bit depth, float); Pillow when tifffile cannot decode it."""
    try:
        import tifffile
    except ImportError:
        return _load_pillow(path, limit)
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        h, w = int(page.imagelength), int(page.imagewidth)
        try:
            _check_size(w, h, limit)
            _check_tiff(tif, page, path)
        except InputError as err:
            if str(err).startswith(str(path)):
                raise
            raise InputError(f"{path}: {err}") from None
        photometric = int(page.photometric)
        if photometric not in (0, 1, 2):  # palette, CMYK, YCbCr, ...: Pillow converts
            return _load_pillow(path, limit)
        try:
            arr = page.asarray()
        except (NotImplementedError, ImportError, ValueError) as err:
            if isinstance(err, ValueError) and "imagecodecs" not in str(err):
                raise
            return _load_pillow(path, limit)
        tags = page.tags
        icc_tag = tags.get(34675)
        icc = bytes(icc_tag.value) if icc_tag is not None else None
        orient_tag = tags.get(274)
        orientation = int(orient_tag.value) if orient_tag is not None else 1
        has_extra = tags.get(338) is not None
    if arr.ndim == 3 and arr.shape[1:] == (h, w) and arr.shape[:2] != (h, w):
        arr = np.moveaxis(arr, 0, -1)  # separate planes: (C, H, W)
    if arr.ndim != 2 and (arr.ndim != 3 or arr.shape[2] > 4):
        raise ValueError(f"unsupported TIFF layout {arr.shape}")
    if photometric == 0 and arr.dtype.kind in "ui":  # MINISWHITE
        arr = np.iinfo(arr.dtype).max - arr
    n = 1 if arr.ndim == 2 else arr.shape[2]
    if n in (2, 4) and not has_extra:
        log.warning("%s: extra sample without ExtraSamples tag taken as alpha", path)
    return _tiff_data(_orient(arr, orientation), n in (2, 4), icc)


#: TIFF compressions whose streams are inflated here, bounded, before tifffile decodes
_TIFF_ZLIB = (8, 32946, 50013)
_TIFF_LZMA = 34925
_TIFF_PACKBITS = 32773


def _check_tiff(tif, page, path: Path) -> None:
    """Refuse, before decoding, what would be read partly or inflate past the header.

    Other pages than reduced-resolution ones (thumbnails) mean a multi-page file; volumes
    and more than 4 samples per pixel are not images; every zlib/deflate, LZMA and
    PackBits segment must inflate to no more than the bytes its header promises.
    """
    pages = len(tif.pages)
    if pages > 1 and not all(getattr(p, "is_reduced", False) for p in tif.pages[1:]):
        _refuse_frames(path, pages)
    spp, depth = int(page.samplesperpixel), int(page.imagedepth)
    bits = page.bitspersample
    if depth != 1 or not 1 <= spp <= 4 or not 1 <= int(bits) <= 64:
        raise ValueError(f"unsupported TIFF layout ({spp} samples of {bits} bits, depth {depth})")
    compression = int(page.compression)
    if compression not in (*_TIFF_ZLIB, _TIFF_LZMA, _TIFF_PACKBITS):
        return
    size = _tiff_segment_bytes(page)
    fh = tif.filehandle
    for offset, count in zip(page.dataoffsets, page.databytecounts, strict=False):
        fh.seek(offset)
        data = fh.read(min(int(count), fh.size))
        what = f"a TIFF {'tile' if page.is_tiled else 'strip'}"
        if compression in _TIFF_ZLIB:
            inflate([data], size, what)
        elif compression == _TIFF_LZMA:
            _lzma_bounded(data, size, what)
        else:
            _packbits_bounded(data, size, what)


def _tiff_segment_bytes(page) -> int:
    """Decoded bytes of one strip or tile, as the header promises."""
    planes = int(page.samplesperpixel) if int(page.planarconfig) == 1 else 1
    bits = int(page.bitspersample) * planes
    if page.is_tiled:
        row = (int(page.tilewidth) * bits + 7) // 8
        return int(page.tiledepth or 1) * int(page.tilelength) * row
    rows = min(int(page.rowsperstrip or page.imagelength), int(page.imagelength))
    return rows * ((int(page.imagewidth) * bits + 7) // 8)


def _too_much(what: str, size: int, bound: str = "its header promises") -> InputError:
    return InputError(
        f"{what} inflates past the {size} bytes {bound} (possible decompression bomb)"
    )


def _lzma_bounded(data: bytes, size: int, what: str) -> None:
    import lzma

    if len(lzma.LZMADecompressor().decompress(data, size + 1)) > size:
        raise _too_much(what, size)


def _packbits_bounded(data: bytes, size: int, what: str) -> None:
    """Count the bytes a PackBits stream decodes to, stopping past ``size``."""
    n = pos = 0
    end = len(data)
    while pos < end:
        code = data[pos]
        if code < 128:
            n += code + 1
            pos += code + 2
        elif code > 128:
            n += 257 - code
            pos += 2
        else:
            pos += 1
        if n > size:
            raise _too_much(what, size)


def _tiff_data(arr: np.ndarray, has_alpha: bool, icc: bytes | None) -> ImageData:
    kind, size = arr.dtype.kind, arr.dtype.itemsize
    if kind == "f":
        if arr.ndim == 2:
            arr = arr[..., None]
        alpha = arr[..., -1].copy() if has_alpha else None
        color = arr[..., :-1] if has_alpha else arr
        pixels = color.astype(np.float32)
        if np.isfinite(pixels).all():
            pixels = _clip_float(pixels)
        return ImageData(pixels, alpha, f"F{color.shape[-1]}", 32, icc, "TIFF")
    if kind == "b" or (kind == "u" and size == 1):
        pixels, alpha = _split(arr.astype(np.uint8), 255.0, has_alpha)
        return ImageData(pixels, alpha, "RGB" if pixels.shape[2] == 3 else "L", 8, icc, "TIFF")
    if kind in "ui" and size == 2:
        pixels, alpha = _split(arr.astype(np.uint16), 65535.0, has_alpha)
        mode = "RGB;16" if pixels.shape[2] == 3 else "I;16"
        return ImageData(pixels, alpha, mode, 16, icc, "TIFF")
    if kind in "ui":
        pixels, alpha = _split(arr, float(np.iinfo(arr.dtype).max), has_alpha)
        return ImageData(pixels, alpha, f"int{8 * size}", 16, icc, "TIFF")
    raise ValueError(f"unsupported TIFF sample type {arr.dtype}")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as an RGB float32 array in ``[0, 1]`` (any bit depth, EXIF applied)."""
    return load_image(path).rgb()


# ---------------------------------------------------------------------------- writing
def to_uint8(img: np.ndarray) -> np.ndarray:
    """Round a ``[0, 1]`` float array to uint8."""
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def to_uint16(img: np.ndarray) -> np.ndarray:
    """Round a ``[0, 1]`` float array to uint16."""
    return (np.clip(img, 0.0, 1.0) * 65535.0 + 0.5).astype(np.uint16)


def format_for(path: str | os.PathLike, default: str | None = None) -> str:
    """The image format implied by a file name's extension, else ``default`` (or PNG)."""
    fmt = _FORMAT_BY_EXT.get(Path(path).suffix.lower())
    if fmt is None:
        fmt = Image.registered_extensions().get(Path(path).suffix.lower())
    return fmt or default or "PNG"


class OutputExistsError(InputError):
    """The output file exists and overwriting was not asked for."""


def temp_file_beside(path: Path) -> str:
    """Create an empty temp file ``.NAME.XXXXXXXX.tmp`` in ``path``'s folder (made if
    needed) with the permissions a plain ``open(path, "w")`` gives: those of an existing
    ``path``, else 0o666 less the umask (not ``mkstemp``'s private 0o600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
        return str(tmp)
    raise FileExistsError(f"{path.parent}: no free temporary file name")


def _atomic_write(path: Path, write: Callable[[str], None], overwrite: bool) -> None:
    """Write via ``write(tmp)`` to a temp file beside ``path``, then move it into place."""
    if not overwrite and path.exists():
        raise OutputExistsError(f"{path}: already exists (not overwritten)")
    tmp = temp_file_beside(path)
    try:
        write(tmp)
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if path appeared meanwhile: never clobbers
            except FileExistsError:
                raise OutputExistsError(f"{path}: already exists (not overwritten)") from None
            except OSError:
                os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_image(path: str | os.PathLike, img: np.ndarray) -> None:
    """Write a ``[0, 1]`` float (or uint8) array atomically (temp file + rename)."""
    path = Path(path)
    arr = img if img.dtype == np.uint8 else to_uint8(img)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]  # not squeeze(): a 1-pixel-high or -wide image keeps its shape

    def write(tmp: str) -> None:
        Image.fromarray(arr).save(tmp, format=format_for(path))

    _atomic_write(path, write, overwrite=True)


def as_image_data(img: ImageData | np.ndarray) -> ImageData:
    """Wrap an array (``H x W [x C]``; uint8, uint16 or float in [0, 1]) as :class:`ImageData`."""
    if isinstance(img, ImageData):
        return img
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = arr[..., None]
    depth = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16}.get(arr.dtype, 8)
    scale = {8: 255.0, 16: 65535.0}[depth] if arr.dtype.kind in "ui" else 1.0
    has_alpha = arr.shape[2] in (2, 4)
    alpha = arr[..., -1].copy() if has_alpha else None
    color = arr[..., :-1] if has_alpha else arr
    pixels = color.astype(np.float32) if scale == 1.0 else color.astype(np.float32) / scale
    return ImageData(pixels, alpha, bit_depth=depth)


def save_image(
    path: str | os.PathLike,
    img: ImageData | np.ndarray,
    *,
    overwrite: bool = False,
    format: str | None = None,
    bit_depth: int | None = None,
    quality: int = 95,
) -> Path:
    """Write an image atomically, keeping bit depth, ICC profile, gray and alpha when possible.

    The format comes from ``format``, else ``path``'s extension, else the source's.
    16-bit sources stay 16-bit in PNG and TIFF (float sources stay float in TIFF);
    other formats get 8 bits. Alpha is written untouched where the format holds it
    (dropped, with a warning, for JPEG). Raises :class:`OutputExistsError` when
    ``path`` exists and ``overwrite`` is false.
    """
    path = Path(path)
    data = as_image_data(img)
    fmt = (format or format_for(path, data.format)).upper()
    depth = bit_depth or data.bit_depth
    if fmt not in _DEEP_FORMATS or (depth == 32 and fmt != "TIFF"):
        depth = 8
    alpha = data.alpha
    if alpha is not None and fmt not in _ALPHA_FORMATS:
        log.warning("%s: %s cannot store an alpha channel; alpha dropped", path, fmt)
        alpha = None

    def write(tmp: str) -> None:
        if fmt == "TIFF":
            _write_tiff(tmp, data, alpha, depth)
        elif fmt == "PNG" and depth == 16:
            arr = _stack(to_uint16(data.pixels), _alpha_as(alpha, np.uint16))
            Path(tmp).write_bytes(_png16_bytes(arr, data.icc_profile))
        else:
            _write_pillow(tmp, fmt, data, alpha, quality)

    _atomic_write(path, write, overwrite)
    return path


def _alpha_as(alpha: np.ndarray | None, dtype: type) -> np.ndarray | None:
    """The alpha channel in ``dtype`` (rescaled only when the bit depth must change)."""
    if alpha is None or alpha.dtype == dtype:
        return alpha
    src = float(np.iinfo(alpha.dtype).max) if alpha.dtype.kind in "ui" else 1.0
    dst = float(np.iinfo(dtype).max) if np.dtype(dtype).kind in "ui" else 1.0
    out = alpha.astype(np.float64) / src * dst
    if np.dtype(dtype).kind in "ui":
        out = np.clip(np.rint(out), 0, dst)
    return out.astype(dtype)


def _stack(color: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    return color if alpha is None else np.concatenate([color, alpha[..., None]], axis=2)


def _write_pillow(
    tmp: str, fmt: str, data: ImageData, alpha: np.ndarray | None, quality: int
) -> None:
    arr = _stack(to_uint8(data.pixels), _alpha_as(alpha, np.uint8))
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[arr.shape[2]]
    im = Image.fromarray(arr if arr.shape[2] > 1 else arr[..., 0], mode=mode)
    if fmt == "JPEG" and mode == "LA":
        im = im.convert("L")
    if fmt == "WEBP" and mode in ("L", "LA"):
        im = im.convert("RGBA" if mode == "LA" else "RGB")
    kwargs: dict = {}
    if data.icc_profile:
        kwargs["icc_profile"] = data.icc_profile
    if fmt in ("JPEG", "WEBP"):
        kwargs["quality"] = quality
    if fmt == "JPEG":
        kwargs["subsampling"] = 0 if quality >= 90 else 2
    im.save(tmp, format=fmt, **kwargs)


def _write_tiff(tmp: str, data: ImageData, alpha: np.ndarray | None, depth: int) -> None:
    try:
        import tifffile
    except ImportError:  # pragma: no cover - tifffile is a dev dependency
        return _write_pillow(tmp, "TIFF", data, alpha, 95)
    dtype = {8: np.uint8, 16: np.uint16, 32: np.float32}[depth]
    if depth == 32:
        color = data.pixels.astype(np.float32)
    else:
        color = to_uint16(data.pixels) if depth == 16 else to_uint8(data.pixels)
    arr = _stack(color, _alpha_as(alpha, dtype))
    if arr.shape[2] == 1:
        arr = arr[..., 0]
    kwargs: dict = {"photometric": "rgb" if data.pixels.shape[2] == 3 else "minisblack"}
    if alpha is not None:
        kwargs["extrasamples"] = [2]  # unassociated alpha
    if data.icc_profile:
        kwargs["extratags"] = [(34675, 7, len(data.icc_profile), data.icc_profile, True)]
    tifffile.imwrite(tmp, arr, compression="zlib" if depth != 32 else None, **kwargs)


# ---------------------------------------------------------------------------- tensors
def image_to_tensor(img: np.ndarray) -> Tensor:
    """``H x W x C`` array -> ``(1, C, H, W)`` float32 tensor."""
    if img.ndim == 2:
        img = img[..., None]
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32))[None]


def tensor_to_image(x: Tensor) -> np.ndarray:
    """``(1, C, H, W)`` or ``(C, H, W)`` tensor -> ``H x W x C`` float32 array."""
    if x.ndim == 4:
        x = x[0]
    return x.detach().float().cpu().permute(1, 2, 0).numpy()


def list_images(folder: str | os.PathLike, *, include_non_files: bool = False) -> list[Path]:
    """Entries directly in ``folder`` with an image extension, sorted; hidden names skipped.

    Entries named like images that are not regular files (a folder, a broken symbolic
    link) are skipped with a warning naming each, or with ``include_non_files`` returned,
    so that the caller reports them. A missing folder is a :class:`ConfigError`.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such folder")
    named = sorted(
        p
        for p in folder.iterdir()
        if not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
    )
    if include_non_files:
        return named
    for p in named:
        if not p.is_file():
            log.warning("%s: %s; skipped", p, _not_a_file(p))
    return [p for p in named if p.is_file()]


def _not_a_file(path: Path) -> str:
    """Why ``path`` (named like an image) is not a regular file."""
    if path.is_dir():
        return "is a directory"
    if path.is_symlink() and not path.exists():
        return "broken symbolic link (its target does not exist)"
    return "not a regular file"


def sample_images_dir() -> Path:
    """Folder of the bundled sample photos."""
    return Path(__file__).parent / "assets" / "samples"
