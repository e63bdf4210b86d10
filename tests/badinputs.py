"""A corpus of bad (and awkward but valid) image inputs, generated on the fly.

:func:`make_corpus` writes one file per case into a folder and returns the cases by
file name. Every case has a distinct stem, so CLI outputs and ``eval`` pairs never
collide. Nothing is downloaded.

Unreadable permissions cannot be simulated with ``chmod 000`` when the tests run as
root (root reads anything), so :func:`deny_reading` monkeypatches ``builtins.open`` to
raise :class:`PermissionError` for the ``locked.png`` case instead (the path given).
"""

from __future__ import annotations

import builtins
import functools
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

#: the case whose reading is to be denied with :func:`deny_reading`
LOCKED = "locked.png"


@dataclass(frozen=True)
class Case:
    """One corpus entry.

    Attributes:
        name: file name in the corpus folder.
        ok: whether :func:`irsde.io.load_image` must accept it.
        error: regex fragment of the expected one-line message (bad cases).
        size: ``(H, W)`` of the decoded image (good cases).
        listed: whether a folder listing of the toolkit includes it (``.gif`` is not).
        regular: whether it is a regular file (directories and dangling links are not).
    """

    name: str
    ok: bool
    error: str = ""
    size: tuple[int, int] | None = None
    listed: bool = True
    regular: bool = True

    @property
    def stem(self) -> str:
        return Path(self.name).stem


def _rgb(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny valid-looking PNG whose header declares ``width x height`` pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


@functools.cache
def zlib_zeros(n: int) -> bytes:
    """A zlib stream of ``n`` zero bytes, compressed about 1000:1 (built in 1 MiB pieces)."""
    enc = zlib.compressobj(9)
    piece = bytes(1 << 20)
    parts = [enc.compress(piece) for _ in range(n >> 20)]
    parts.append(enc.compress(bytes(n & ((1 << 20) - 1))))
    return b"".join([*parts, enc.flush()])


def png16(arr: np.ndarray, extra: tuple[tuple[bytes, bytes], ...] = (), idat: bytes | None = None):
    """A 16-bit PNG of ``arr`` (``H x W x C`` uint16), ``extra`` chunks after IHDR.

    ``idat`` replaces the compressed image data (e.g. with a stream that inflates to far
    more than the header promises).
    """
    h, w, c = arr.shape
    ihdr = struct.pack(">IIBBBBB", w, h, 16, {1: 0, 2: 4, 3: 2, 4: 6}[c], 0, 0, 0)
    rows = np.zeros((h, 1 + 2 * c * w), np.uint8)
    rows[:, 1:] = np.ascontiguousarray(arr, ">u2").view(np.uint8).reshape(h, -1)
    body = idat if idat is not None else zlib.compress(rows.tobytes())
    chunks = [_png_chunk(b"IHDR", ihdr), *(_png_chunk(k, v) for k, v in extra)]
    chunks += [_png_chunk(b"IDAT", body), _png_chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def png16_bomb(inflated: int = 64 << 20) -> bytes:
    """A 1x1 RGB 16-bit PNG whose image data inflates to ``inflated`` bytes."""
    return png16(np.zeros((1, 1, 3), np.uint16), idat=zlib_zeros(inflated))


def png16_icc_bomb(inflated: int = 64 << 20) -> bytes:
    """A valid 2x2 16-bit PNG whose colour profile (iCCP) inflates to ``inflated`` bytes."""
    icc = b"bomb\x00\x00" + zlib_zeros(inflated)
    return png16(np.full((2, 2, 3), 1000, np.uint16), extra=((b"iCCP", icc),))


def tiff_bomb(inflated: int = 64 << 20, compression: int = 8) -> bytes:
    """A 1x1 16-bit gray TIFF whose one strip inflates to ``inflated`` bytes.

    ``compression`` 8 is zlib (Adobe deflate), 32946 the old deflate code; the same
    stream serves both.
    """
    strip = zlib_zeros(inflated)
    tags = [  # (tag, type, count, value): SHORT = 3, LONG = 4
        (256, 3, 1, 1),
        (257, 3, 1, 1),
        (258, 3, 1, 16),
        (259, 3, 1, compression),
        (262, 3, 1, 1),
        (273, 4, 1, 8),  # strip right after the header
        (277, 3, 1, 1),
        (278, 3, 1, 1),
        (279, 4, 1, len(strip)),
    ]
    ifd = struct.pack("<H", len(tags))
    for tag, typ, count, value in tags:  # a SHORT sits left-justified in the 4-byte field
        fields = (tag, typ, count, value, 0) if typ == 3 else (tag, typ, count, value)
        ifd += struct.pack("<HHIHH" if typ == 3 else "<HHII", *fields)
    ifd += struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8 + len(strip)) + strip + ifd


def _save(im: Image.Image, path: Path, fmt: str, **kw) -> None:
    im.save(path, format=fmt, **kw)


def make_corpus(folder: Path) -> dict[str, Case]:
    """Write every case into ``folder`` (created); return the cases by file name."""
    folder.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []

    def good(name: str, size: tuple[int, int], **kw) -> None:
        cases.append(Case(name, True, size=size, **kw))

    def bad(name: str, error: str, **kw) -> None:
        cases.append(Case(name, False, error=error, **kw))

    # --- valid, if unusual
    png = folder / "good.png"
    Image.fromarray(_rgb(12, 16, 0)).save(png)
    good("good.png", (12, 16))
    Image.fromarray(_rgb(12, 16, 1)).save(folder / "png_named.jpg", format="PNG")
    good("png_named.jpg", (12, 16))
    Image.fromarray(_rgb(12, 16, 2)).save(folder / "jpeg_named.png", format="JPEG")
    good("jpeg_named.png", (12, 16))
    Image.fromarray(_rgb(1, 1, 3)).save(folder / "one_px.png")
    good("one_px.png", (1, 1))
    Image.fromarray(_rgb(1, 23, 4)).save(folder / "row_1xN.png")
    good("row_1xN.png", (1, 23))
    Image.fromarray(_rgb(19, 1, 5)).save(folder / "col_Nx1.png")
    good("col_Nx1.png", (19, 1))
    cmyk = Image.fromarray(_rgb(12, 16, 6)).convert("CMYK")
    _save(cmyk, folder / "cmyk.jpg", "JPEG", quality=95)
    good("cmyk.jpg", (12, 16))
    pal = Image.fromarray(_rgb(12, 16, 7)).quantize(colors=8)
    pal.info["transparency"] = 0
    pal.save(folder / "palette_trns.png", transparency=0)
    good("palette_trns.png", (12, 16))
    g16 = np.random.default_rng(8).integers(0, 65536, (12, 16), dtype=np.uint16)
    Image.fromarray(g16).save(folder / "gray16.png")
    good("gray16.png", (12, 16))
    stored = _rgb(12, 16, 9)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise: 16 x 12 upright
    Image.fromarray(stored).save(folder / "exif_rot6.jpg", exif=exif.tobytes(), quality=95)
    good("exif_rot6.jpg", (16, 12))
    Image.fromarray(_rgb(12, 16, 10)).save(folder / "with space.png")
    good("with space.png", (12, 16))
    Image.fromarray(_rgb(12, 16, 11)).save(folder / "ünïcødé 图像.png")
    good("ünïcødé 图像.png", (12, 16))
    os.symlink(png.name, folder / "link_to_good.png")
    good("link_to_good.png", (12, 16))

    # --- refused, each with its own message
    (folder / "zero.png").write_bytes(b"")
    bad("zero.png", "empty file")
    full_png = png.read_bytes()
    (folder / "trunc_png.png").write_bytes(full_png[: len(full_png) // 2])
    bad("trunc_png.png", "truncated|corrupt")
    buf = folder / "full.tmpjpg"
    Image.fromarray(_rgb(64, 64, 12)).save(buf, format="JPEG", quality=95)
    full_jpg = buf.read_bytes()
    buf.unlink()
    (folder / "trunc_jpg.jpg").write_bytes(full_jpg[: len(full_jpg) // 3])
    bad("trunc_jpg.jpg", "truncated|corrupt")
    (folder / "text.png").write_text("this is not an image\n")
    bad("text.png", "not an image")
    (folder / "bomb.png").write_bytes(png_bomb())
    bad("bomb.png", "decompression bomb")
    frames = [Image.fromarray(_rgb(12, 16, 20 + i)).convert("P") for i in range(3)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:], duration=50)
    bad("animated.gif", "animated", listed=False)
    import tifffile

    nan = np.random.default_rng(13).random((12, 16, 3), dtype=np.float32)
    nan[3, 4, 1] = np.nan
    tifffile.imwrite(folder / "nan_float.tif", nan, photometric="rgb")
    bad("nan_float.tif", "NaN or infinite")
    inf = np.random.default_rng(14).random((12, 16), dtype=np.float32)
    inf[0, 0] = np.inf
    tifffile.imwrite(folder / "inf_float.tif", inf)
    bad("inf_float.tif", "NaN or infinite")
    os.symlink("does-not-exist.png", folder / "dangling.png")
    bad("dangling.png", "broken symbolic link", regular=False)
    (folder / "folder.png").mkdir()
    bad("folder.png", "is a directory", regular=False)
    Image.fromarray(_rgb(12, 16, 15)).save(folder / LOCKED)
    bad(LOCKED, "permission denied")

    # --- 16-bit PNG and TIFF: complete and bounded, or refused
    rgba16 = np.random.default_rng(16).integers(0, 65536, (12, 16, 4), dtype=np.uint16)
    (folder / "rgba16.png").write_bytes(png16(rgba16))
    good("rgba16.png", (12, 16))
    (folder / "bomb16.png").write_bytes(png16_bomb())
    bad("bomb16.png", "decompression bomb")
    (folder / "icc_bomb16.png").write_bytes(png16_icc_bomb())
    bad("icc_bomb16.png", "decompression bomb")
    frame = np.zeros((4, 4, 3), np.uint16)
    actl = struct.pack(">II", 2, 0)
    (folder / "apng16.png").write_bytes(png16(frame, extra=((b"acTL", actl),)))
    bad("apng16.png", "animated or multi-page")
    (folder / "bomb_zlib.tif").write_bytes(tiff_bomb())
    bad("bomb_zlib.tif", "decompression bomb")
    (folder / "bomb_deflate.tif").write_bytes(tiff_bomb(compression=32946))
    bad("bomb_deflate.tif", "decompression bomb")
    pages = folder / "pages.tif"
    for i in range(3):
        tifffile.imwrite(pages, rgba16[..., :3] // (i + 1), append=i > 0, photometric="rgb")
    bad("pages.tif", "multi-page")

    stems = [c.stem for c in cases]
    assert len(set(stems)) == len(stems), "corpus stems must be distinct"
    return {c.name: c for c in cases}


def bad_configs() -> dict[str, tuple[str, str]]:
    """Training configs that must be refused: name -> (YAML text, message fragment)."""
    base = "task: denoise\n"
    return {
        "seed_negative": (base + "seed: -5\n", "seed"),
        "seed_huge": (base + f"seed: {10**23}\n", "seed"),
        "batch_huge": (base + "data: {batch_size: 1000000}\n", "data.batch_size"),
        "betas": (base + "optim: {betas: [2, -1]}\n", "optim.betas"),
        "length_7TiB": (base + "data: {train: {length: 1000000000000}}\n", "data.train.length"),
        "sigma_abc": (base + "data: {train: {params: {sigma: abc}}}\n", "data.train.params"),
        "digits_5001": (base + "seed: " + "1" * 5001 + "\n", "digits"),
        "deep_yaml": (base + "x: " + "[" * 20_000 + "]" * 20_000 + "\n", "nested too deeply"),
        "enc_blocks": (base + "network: {params: {enc_blocks: [-1]}}\n", "enc_blocks"),
        "width_odd": (base + "network: {params: {width: 3}}\n", "width"),
        "max_sigma_inf": (base + "sde: {max_sigma: .inf}\n", "max_sigma"),
        "T_huge": (base + "sde: {T: 1000000000}\n", "T must be"),
    }


def deny_reading(monkeypatch, *paths: Path) -> None:
    """Make opening any of ``paths`` raise PermissionError (root ignores ``chmod 000``)."""
    denied = {os.path.abspath(p) for p in paths}
    real_open = builtins.open

    def guarded(file, *args, **kwargs):
        if isinstance(file, str | os.PathLike) and os.path.abspath(file) in denied:
            raise PermissionError(13, "Permission denied", os.fsdecode(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded)


def good_cases(cases: dict[str, Case]) -> list[Case]:
    return [c for c in cases.values() if c.ok]


def bad_cases(cases: dict[str, Case]) -> list[Case]:
    return [c for c in cases.values() if not c.ok]
