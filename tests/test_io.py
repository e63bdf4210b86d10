"""Image IO: round trips per format and bit depth, metadata kept, bad inputs refused clearly."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms

from irsde.errors import InputError
from irsde.io import (
    ImageData,
    OutputExistsError,
    load_image,
    read_image,
    save_image,
    to_uint8,
    to_uint16,
    write_image,
)

RNG = np.random.default_rng(0)
A8 = RNG.integers(0, 256, (24, 32, 3), dtype=np.uint8)
A16 = RNG.integers(0, 65536, (24, 32, 3), dtype=np.uint16)


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.mark.parametrize("ext", ["png", "tif", "bmp"])
def test_lossless_8bit_round_trip(tmp_path, ext):
    path = save_image(tmp_path / f"a.{ext}", A8)
    data = load_image(path)
    assert data.bit_depth == 8 and data.pixels.shape == (24, 32, 3)
    np.testing.assert_array_equal(to_uint8(data.pixels), A8)


@pytest.mark.parametrize("ext,tol", [("jpg", 40), ("webp", 80)])
def test_lossy_round_trip(tmp_path, ext, tol):
    smooth = np.repeat(np.linspace(0, 255, 32, dtype=np.uint8)[None, :, None], 24, 0)
    smooth = np.repeat(smooth, 3, 2)
    data = load_image(save_image(tmp_path / f"a.{ext}", smooth))
    assert data.format == {"jpg": "JPEG", "webp": "WEBP"}[ext]
    assert np.abs(to_uint8(data.pixels).astype(int) - smooth).max() <= tol


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_16bit_rgb_round_trip_keeps_16_bits(tmp_path, ext):
    path = save_image(tmp_path / f"a16.{ext}", A16)
    data = load_image(path)
    assert data.bit_depth == 16
    np.testing.assert_array_equal(to_uint16(data.pixels), A16)
    out = save_image(tmp_path / f"b.{ext}", data.with_pixels(data.pixels))
    np.testing.assert_array_equal(to_uint16(load_image(out).pixels), A16)


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_16bit_gray_round_trip(tmp_path, ext):
    g = A16[..., 0]
    data = load_image(save_image(tmp_path / f"g.{ext}", g))
    assert data.gray and data.bit_depth == 16
    np.testing.assert_array_equal(to_uint16(data.pixels[..., 0]), g)


def test_pillow_16bit_gray_png_is_read_at_16_bits(tmp_path):
    Image.fromarray(A16[..., 0]).save(tmp_path / "g.png")
    data = load_image(tmp_path / "g.png")
    np.testing.assert_array_equal(to_uint16(data.pixels[..., 0]), A16[..., 0])


def test_paeth_filtered_png_decodes_like_pillow(tmp_path):
    from irsde.io import _png_chunks, _png_unfilter

    y, x = np.mgrid[:40, :50]
    img = np.stack([(x + y) % 256, (x * y // 7) % 256, (3 * x) % 256], -1).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "p.png")
    chunks = _png_chunks((tmp_path / "p.png").read_bytes())
    raw = zlib.decompress(b"".join(b for c, b in chunks if c == b"IDAT"))
    assert set(np.frombuffer(raw, np.uint8).reshape(40, -1)[:, 0]) - {0, 1, 2}  # 3 or 4 used
    np.testing.assert_array_equal(_png_unfilter(raw, 50, 40, 3).reshape(40, 50, 3), img)


def test_gray_is_restored_on_3_channels_and_written_gray(tmp_path):
    g = A8[..., 0]
    data = load_image(save_image(tmp_path / "g.png", g))
    assert data.gray and data.rgb().shape == (24, 32, 3)
    out = save_image(tmp_path / "o.png", data.with_pixels(data.rgb()))
    assert Image.open(out).mode == "L"
    np.testing.assert_array_equal(to_uint8(load_image(out).pixels[..., 0]), g)


@pytest.mark.parametrize("ext,dtype", [("png", np.uint8), ("png", np.uint16), ("tif", np.uint16)])
def test_rgba_alpha_passes_through_untouched(tmp_path, ext, dtype):
    top = np.iinfo(dtype).max
    rgba = RNG.integers(0, top + 1, (24, 32, 4), dtype=dtype)
    data = load_image(save_image(tmp_path / f"a.{ext}", rgba))
    assert data.alpha is not None and data.alpha.dtype == dtype
    np.testing.assert_array_equal(data.alpha, rgba[..., 3])
    restored = data.with_pixels(1.0 - data.pixels)
    back = load_image(save_image(tmp_path / f"b.{ext}", restored))
    np.testing.assert_array_equal(back.alpha, rgba[..., 3])


@pytest.mark.parametrize("ext", ["png", "jpg", "tif", "webp"])
def test_icc_profile_kept(tmp_path, ext):
    icc = srgb_icc()
    path = save_image(tmp_path / f"a.{ext}", ImageData(A8 / 255.0, icc_profile=icc))
    data = load_image(path)
    assert data.icc_profile == icc
    assert load_image(save_image(tmp_path / f"b.{ext}", data)).icc_profile == icc


def test_icc_profile_kept_in_16bit_png(tmp_path):
    icc = srgb_icc()
    path = save_image(tmp_path / "a.png", ImageData(A16 / 65535.0, bit_depth=16, icc_profile=icc))
    assert load_image(path).icc_profile == icc


def test_exif_rotated_input_comes_out_upright(tmp_path):
    stored = np.zeros((20, 40, 3), dtype=np.uint8)  # landscape as stored
    stored[:, :5] = 255  # bright band on the stored left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # display = rotate 90 degrees clockwise
    Image.fromarray(stored).save(tmp_path / "r.jpg", exif=exif.tobytes(), quality=95)
    img = read_image(tmp_path / "r.jpg")
    assert img.shape == (40, 20, 3)  # portrait, upright
    assert img[:5].mean() > 0.9 and img[-5:].mean() < 0.1  # band now on top


def test_output_format_from_extension(tmp_path):
    data = load_image(save_image(tmp_path / "a.png", A8))
    assert load_image(save_image(tmp_path / "b.tif", data)).format == "TIFF"
    assert load_image(save_image(tmp_path / "c", data)).format == "PNG"  # the input's


def test_float_tiff_round_trip_and_nan_refused(tmp_path):
    import tifffile

    f = RNG.random((8, 9, 3)).astype(np.float32)
    tifffile.imwrite(tmp_path / "f.tif", f, photometric="rgb")
    data = load_image(tmp_path / "f.tif")
    assert data.bit_depth == 32
    np.testing.assert_array_equal(data.pixels, f)
    assert load_image(save_image(tmp_path / "g.tif", data)).bit_depth == 32
    f[1, 2, 0] = np.nan
    tifffile.imwrite(tmp_path / "nan.tif", f, photometric="rgb")
    with pytest.raises(InputError, match=r"nan\.tif: .*NaN"):
        load_image(tmp_path / "nan.tif")


def test_never_overwrites_unless_asked(tmp_path):
    path = save_image(tmp_path / "a.png", A8)
    with pytest.raises(OutputExistsError, match="already exists"):
        save_image(path, 255 - A8)
    np.testing.assert_array_equal(to_uint8(load_image(path).pixels), A8)
    save_image(path, 255 - A8, overwrite=True)
    np.testing.assert_array_equal(to_uint8(load_image(path).pixels), 255 - A8)
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]  # no temp files left


def test_write_image_keeps_its_behaviour(tmp_path):
    write_image(tmp_path / "a.png", A8 / 255.0)
    write_image(tmp_path / "a.png", A8)  # replaces, as before
    np.testing.assert_array_equal(to_uint8(read_image(tmp_path / "a.png")), A8)


def _png_bomb(path, side=40_000):
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1000)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def bad_inputs(tmp_path) -> dict:
    """One file per kind of bad input: name -> expected message fragment."""
    (tmp_path / "empty.png").write_bytes(b"")
    good = save_image(tmp_path / "full.png", A8)
    (tmp_path / "truncated.png").write_bytes(good.read_bytes()[:200])
    (tmp_path / "text.png").write_text("this is not an image\n")
    jpg = save_image(tmp_path / "full.jpg", A8)
    (tmp_path / "cut.jpg").write_bytes(jpg.read_bytes()[:300])
    _png_bomb(tmp_path / "bomb.png")
    (tmp_path / "folder.png").mkdir()
    return {
        "empty.png": "empty",
        "truncated.png": "truncated|corrupt",
        "text.png": "not an image",
        "cut.jpg": "truncated|corrupt",
        "bomb.png": "decompression bomb",
        "folder.png": "directory",
        "missing.png": "no such file",
    }


def test_each_bad_input_gives_one_line_naming_the_file(tmp_path):
    for name, fragment in bad_inputs(tmp_path).items():
        with pytest.raises(InputError, match=fragment) as info:
            load_image(tmp_path / name)
        msg = str(info.value)
        assert msg.startswith(str(tmp_path / name)) and "\n" not in msg, msg


def test_pixel_limit_from_environment(tmp_path, monkeypatch):
    path = save_image(tmp_path / "a.png", A8)
    monkeypatch.setenv("IRSDE_MAX_PIXELS", "100")
    with pytest.raises(InputError, match="exceeds the limit"):
        load_image(path)
