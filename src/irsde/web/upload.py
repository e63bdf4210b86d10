"""Receiving an uploaded image safely: streamed to a temp file with a size limit.

:func:`receive_form` parses a ``multipart/form-data`` body as it arrives (python-multipart's
streaming parser): the one file part goes to a fresh temporary file in the server's
upload folder (its name is never taken from the client), its size is checked at every
chunk, and small text fields are kept in memory. Every read of the body has a deadline
(:func:`timed`): a client that stalls, trickles, or takes too long is answered 408 and
frees its upload slot. :func:`probe_image` then reads only the image header to check
the pixel count before anything is decoded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import tempfile
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from python_multipart.multipart import MultipartParser, parse_options_header

from .settings import Pace

log = logging.getLogger(__name__)

#: bytes of multipart framing and text fields allowed on top of the image itself
FORM_OVERHEAD = 64 * 1024
MAX_FIELDS = 16
MAX_FIELD_BYTES = 1024
FILE_FIELD = "image"
DRAIN_CAP = 64_000_000
#: longest multipart boundary (RFC 2046 allows 70; python-multipart parses up to 256)
MAX_BOUNDARY = 256


class UploadError(Exception):
    """A refused upload: an HTTP status and a one-line message for the user."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Form:
    """A received form: text fields, and the uploaded file (temp path) if any."""

    fields: dict[str, str] = field(default_factory=dict)
    file: Path | None = None
    filename: str = ""
    size: int = 0

    def discard(self) -> None:
        """Delete the uploaded temp file."""
        if self.file is not None:
            with contextlib.suppress(OSError):
                self.file.unlink()
            self.file = None


def human_bytes(n: float) -> str:
    """``1500000`` -> ``"1.5 MB"`` (decimal units, as the limits are given)."""
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.3g} {unit}"
        n /= 1000
    return f"{n} GB"  # pragma: no cover


def safe_name(filename: str, default: str = "image") -> str:
    """A display name from a client's file name: its last component, tame characters."""
    base = re.split(r"[\\/]", filename or "")[-1]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.splitext(base)[0]).strip("._")
    return stem[:60] or default


class _FormReceiver:
    """python-multipart callbacks that fill a :class:`Form` under the limits."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.form = Form()
        self._headers: list[tuple[bytes, bytes]] = []
        self._hname = bytearray()
        self._hvalue = bytearray()
        self._name = ""
        self._is_file = False
        self._data = bytearray()
        self._fh = None

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }

    def on_part_begin(self) -> None:
        self._headers, self._data, self._is_file = [], bytearray(), False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._hname += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._hvalue += data[start:end]

    def on_header_end(self) -> None:
        self._headers.append((bytes(self._hname).lower(), bytes(self._hvalue)))
        self._hname, self._hvalue = bytearray(), bytearray()

    def on_headers_finished(self) -> None:
        disposition = dict(self._headers).get(b"content-disposition", b"")
        _, opts = parse_options_header(disposition)
        self._name = opts.get(b"name", b"").decode("utf-8", "replace")
        filename = opts.get(b"filename")
        if filename is None:
            if len(self.form.fields) >= MAX_FIELDS:
                raise UploadError(400, f"too many form fields (at most {MAX_FIELDS})")
            return
        if self._name != FILE_FIELD:
            raise UploadError(400, f"unexpected file field {self._name!r}; send it as 'image'")
        if self.form.file is not None:
            raise UploadError(400, "send one image per request")
        self._is_file = True
        self.form.filename = filename.decode("utf-8", "replace")
        fd, tmp = tempfile.mkstemp(prefix="upload-", suffix=".bin", dir=self.folder)
        self.form.file = Path(tmp)
        self._fh = os.fdopen(fd, "wb")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if not self._is_file:
            self._data += chunk
            if len(self._data) > MAX_FIELD_BYTES:
                raise UploadError(400, f"form field {self._name!r} is too long")
            return
        self.form.size += len(chunk)
        if self.form.size > self.max_bytes:
            raise UploadError(
                413,
                f"the image file is larger than the {human_bytes(self.max_bytes)} limit "
                "of this server",
            )
        assert self._fh is not None
        self._fh.write(chunk)

    def on_part_end(self) -> None:
        if self._is_file:
            self.close()
        else:
            self.form.fields[self._name] = self._data.decode("utf-8", "replace").strip()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


async def timed(stream: AsyncIterator[bytes], pace: Pace) -> AsyncIterator[bytes]:
    """``stream``'s chunks, each awaited with a deadline; :class:`UploadError` 408 when the
    client sends nothing for ``pace.idle`` s, is slower than ``pace.min_rate`` on average
    after that, or is not done within ``pace.total`` s."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    received = 0
    chunks = stream.__aiter__()
    while True:
        now = loop.time()
        elapsed = now - start
        if elapsed > pace.idle and received < pace.min_rate * elapsed:
            raise UploadError(
                408, f"the upload is too slow (under {human_bytes(pace.min_rate)}/s); try again"
            )
        left = pace.total - elapsed
        try:
            chunk = await asyncio.wait_for(chunks.__anext__(), max(0.0, min(pace.idle, left)))
        except StopAsyncIteration:
            return
        except TimeoutError:
            if left <= pace.idle:
                raise UploadError(408, f"the upload took longer than {pace.total:g} s") from None
            raise UploadError(
                408, f"the upload stalled (nothing received for {pace.idle:g} s)"
            ) from None
        received += len(chunk)
        yield chunk


async def receive_form(
    content_type: str,
    content_length: str | None,
    stream: AsyncIterator[bytes],
    folder: Path,
    max_bytes: int,
    pace: Pace = Pace(),
) -> Form:
    """Parse a multipart body from ``stream``; the image (field ``image``) goes to ``folder``.

    Raises :class:`UploadError` (413 when the image exceeds ``max_bytes``, checked while
    streaming; 408 when the body arrives slower than ``pace``; 400/415 for a malformed
    form). Nothing is left on disk on error.
    """
    ctype, opts = parse_options_header(content_type or "")
    if ctype != b"multipart/form-data":
        raise UploadError(415, "send the form as multipart/form-data (the image in field 'image')")
    boundary = opts.get(b"boundary")
    if not boundary:
        raise UploadError(400, "malformed multipart form (no boundary)")
    if len(boundary) > MAX_BOUNDARY:
        raise UploadError(400, f"malformed multipart form (boundary over {MAX_BOUNDARY} bytes)")
    limit = max_bytes + FORM_OVERHEAD
    too_large = UploadError(
        413, f"the upload is larger than the {human_bytes(max_bytes)} limit of this server"
    )
    if content_length and content_length.isdigit() and int(content_length) > limit:
        await drain(stream, max_bytes, int(content_length), pace=pace)
        raise too_large
    receiver = _FormReceiver(folder, max_bytes)
    total = 0
    try:
        parser = MultipartParser(boundary, receiver.callbacks())
        async for chunk in timed(stream, pace):
            total += len(chunk)
            if total > limit:
                raise too_large
            parser.write(chunk)
        parser.finalize()
    except UploadError as err:
        receiver.close()
        receiver.form.discard()
        if err.status == 413:
            await drain(stream, max_bytes, None, total, pace)
        raise
    except Exception as err:  # malformed body, client gone, disk full, ...
        receiver.close()
        receiver.form.discard()
        log.info("upload refused: %s", err)
        raise UploadError(400, "malformed or interrupted upload") from None
    receiver.close()
    form = receiver.form
    if form.file is not None and form.size == 0:
        form.discard()
    return form


async def drain(
    stream: AsyncIterator[bytes],
    max_bytes: int,
    announced: int | None = None,
    seen: int = 0,
    pace: Pace = Pace(),
) -> None:
    """Read and drop the rest of a refused body (bounded), so the client gets the answer.

    Clients that are still sending when the server answers and closes often see a reset
    connection instead of the error message; reading on (up to a few times the upload
    limit, at most 64 MB) avoids that for moderately oversized uploads.
    """
    cap = min(4 * max_bytes + FORM_OVERHEAD, DRAIN_CAP)
    if announced is not None and announced > cap:
        return
    with contextlib.suppress(Exception):
        async for chunk in timed(stream, pace):
            seen += len(chunk)
            if seen > cap:
                return


def _header_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` from the header: Pillow, or tifffile for the TIFFs Pillow cannot
    open (float RGB, 16-bit RGB), so the server accepts what ``irsde restore`` reads."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return im.size
    except UnidentifiedImageError:
        with open(path, "rb") as f:
            if f.read(4) not in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
                raise
        import tifffile

        try:
            with tifffile.TiffFile(path) as tif:
                page = tif.pages[0]
                return int(page.imagewidth), int(page.imagelength)
        except Exception as err:
            raise ValueError(str(err)) from None


def probe_image(path: Path, max_pixels: int, scale: int = 1) -> tuple[int, int]:
    """``(width, height)`` from the image header only; refuses non-images and big images.

    ``scale``: output / input size ratio of the task (4 for x4 super-resolution), whose
    output pixels count against ``max_pixels``.
    """
    try:
        width, height = _header_size(path)
    except Image.DecompressionBombError:
        raise UploadError(413, "the image has too many pixels for this server") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise UploadError(400, "not an image file (or an unsupported format)") from None
    if width <= 0 or height <= 0:
        raise UploadError(400, f"invalid image size {width}x{height}")
    out = width * height * scale * scale
    if out > max_pixels:
        what = f"{width}x{height}" + (
            f" (x{scale} output: {width * scale}x{height * scale})" if scale > 1 else ""
        )
        raise UploadError(
            413,
            f"the image is {what}, {out / 1e6:.2f} megapixels; this server accepts at most "
            f"{max_pixels / 1e6:.2f} megapixels",
        )
    return width, height
