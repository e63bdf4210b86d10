"""Property-based fuzzing (hypothesis, bounded) of the readers of untrusted input.

- image decoding: random bytes and mutated valid PNG/JPEG/TIFF/... files give an
  :class:`~irsde.io.ImageData` or an :class:`~irsde.errors.InputError`, nothing else;
- image encoding: random arrays round-trip exactly through PNG (8/16-bit) and TIFF;
- training configs: random mappings and YAML text give a TrainConfig or a ConfigError;
- model files: random bytes and mutated safetensors headers/metadata give a network or a
  :class:`~irsde.errors.ModelLoadError`, nothing else.

``IRSDE_FUZZ_EXAMPLES`` scales the number of examples (default keeps the file < 30 s).
"""

from __future__ import annotations

import atexit
import io
import json
import os
import shutil
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from irsde.errors import ConfigError, InputError, ModelLoadError
from irsde.io import ImageData, load_image, save_image, to_uint8, to_uint16
from irsde.models import load_model, save_model
from irsde.nets import build_network
from irsde.train import load_config, parse_config
from irsde.train.config import TrainConfig

SCALE = float(os.environ.get("IRSDE_FUZZ_EXAMPLES", "1"))
#: pixel limit for decoding fuzzed files (keeps every example fast)
LIMIT = 1 << 16


def fuzz(n: int):
    return settings(
        max_examples=max(1, int(n * SCALE)),
        deadline=None,
        derandomize=SCALE == 1,  # deterministic in CI; larger runs explore anew
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


_TMP = Path(tempfile.mkdtemp(prefix="irsde-fuzz-"))
atexit.register(shutil.rmtree, _TMP, True)


def _file(data: bytes, suffix: str) -> Path:
    path = _TMP / f"f{suffix}"
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------------------- seeds
def _seed_images() -> list[bytes]:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    out = []
    for fmt, mode in (
        ("PNG", "RGB"),
        ("PNG", "P"),
        ("JPEG", "RGB"),
        ("BMP", "RGB"),
        ("WEBP", "RGB"),
    ):
        buf = io.BytesIO()
        Image.fromarray(rgb).convert(mode).save(buf, format=fmt)
        out.append(buf.getvalue())
    for arr, name in (
        (rng.integers(0, 65536, (9, 11, 3), dtype=np.uint16), "a.png"),  # built-in 16-bit codec
        (rng.integers(0, 65536, (9, 11, 4), dtype=np.uint16), "b.tif"),
        (rng.random((9, 11, 3), dtype=np.float32), "c.tif"),
        (rgb, "d.tif"),
    ):
        path = save_image(_TMP / name, arr, overwrite=True)
        out.append(path.read_bytes())
    return out


SEEDS = _seed_images()
MAGICS = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"GIF89a", b"BM", b"RIFF"]


@st.composite
def mutated(draw, seeds: list[bytes]) -> bytes:
    """A seed file with a few byte flips, insertions, deletions and maybe a truncation."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[pos] = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF]))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 16))]
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


def _check_image_result(path: Path) -> None:
    try:
        data = load_image(path, limit=LIMIT)
    except InputError as err:
        assert "\n" not in str(err) and str(path) in str(err)
        return
    assert isinstance(data, ImageData)
    assert data.pixels.dtype == np.float32 and data.pixels.ndim == 3
    assert data.pixels.shape[2] in (1, 3) and data.height * data.width <= LIMIT
    assert np.isfinite(data.pixels).all()
    assert data.pixels.min(initial=0) >= 0 and data.pixels.max(initial=0) <= 1


# ---------------------------------------------------------------------------- decode
@fuzz(150)
@given(st.binary(max_size=512) | st.tuples(st.sampled_from(MAGICS), st.binary(max_size=512)))
def test_random_bytes_decode_or_input_error(blob):
    data = blob if isinstance(blob, bytes) else blob[0] + blob[1]
    _check_image_result(_file(data, ".png"))


@fuzz(250)
@given(mutated(SEEDS))
def test_mutated_images_decode_or_input_error(data):
    _check_image_result(_file(data, ".img"))


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


@st.composite
def png16_files(draw) -> bytes:
    """16-bit PNGs with valid CRCs (so the built-in decoder, not the CRC check, is what
    is fuzzed): any header, filter bytes, data that inflates short, exact or long, and
    iCCP / eXIf / acTL chunks."""
    w, h = draw(st.integers(0, 40)), draw(st.integers(0, 40))
    color = draw(st.sampled_from([0, 2, 4, 6, 3, 1]))
    depth = draw(st.sampled_from([16, 16, 16, 8, 1]))
    interlace = draw(st.sampled_from([0, 0, 0, 1, 2]))
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, interlace)
    stride = 1 + 2 * {0: 1, 2: 3, 4: 2, 6: 4}.get(color, 1) * w
    size = h * stride + draw(st.sampled_from([0, 0, -1, 1, -stride, 10**5]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    raw = rng.integers(0, 256, max(0, size), dtype=np.uint8)
    if stride > 0 and raw.size >= stride:
        raw[::stride] = rng.integers(0, draw(st.sampled_from([5, 6, 256])), raw[::stride].size)
    data = zlib.compress(raw.tobytes())
    cut = draw(st.sampled_from([None, None, len(data) // 2]))
    pieces = draw(st.integers(1, 3))
    step = max(1, len(data[:cut]) // pieces)
    idats = [data[:cut][i : i + step] for i in range(0, len(data[:cut]), step)] or [b""]
    extra = draw(
        st.lists(
            st.sampled_from(
                [
                    (b"iCCP", b"p\x00\x00" + zlib.compress(b"\x00" * 2000)),
                    (b"iCCP", b"p\x00\x00" + zlib.compress(b"\x00" * (2 << 20))),
                    (b"iCCP", b"no-terminator"),
                    (b"eXIf", Image.Exif().tobytes()),
                    (b"acTL", struct.pack(">II", 2, 0)),
                    (b"IHDR", ihdr),
                ]
            ),
            max_size=2,
        )
    )
    chunks = [_chunk(b"IHDR", ihdr), *(_chunk(k, v) for k, v in extra)]
    chunks += [_chunk(b"IDAT", piece) for piece in idats]
    if draw(st.booleans()):
        chunks.append(_chunk(b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


@fuzz(150)
@given(png16_files())
def test_16_bit_png_structures_decode_or_input_error(data):
    _check_image_result(_file(data, ".png"))


@st.composite
def tiff_files(draw) -> bytes:
    """TIFFs written by tifffile (zlib, LZMA or none; strips or tiles; 1..2 pages;
    8/16-bit/float), then with one strip's bytes replaced by a stream that inflates
    more or less than the header says."""
    import tifffile

    h, w = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    spp = draw(st.sampled_from([1, 3, 4]))
    dtype = draw(st.sampled_from([np.uint8, np.uint16, np.float32]))
    arr = _array((h, w, spp), dtype, draw(st.integers(0, 999)))
    compression = draw(st.sampled_from(["zlib", "lzma", None]))  # PackBits needs imagecodecs
    tile = draw(st.sampled_from([None, (16, 16)]))
    path = _TMP / "gen.tif"
    kw = {"photometric": "rgb" if spp >= 3 else "minisblack", "compression": compression}
    if spp == 4:
        kw["extrasamples"] = [2]
    strips = {} if tile else {"rowsperstrip": draw(st.integers(1, 24))}
    tifffile.imwrite(path, arr, tile=tile, **strips, **kw)
    if draw(st.booleans()):
        tifffile.imwrite(path, arr, append=True, **kw)
    data = bytearray(path.read_bytes())
    if compression == "zlib" and draw(st.booleans()):
        with tifffile.TiffFile(io.BytesIO(bytes(data))) as tif:
            offset, count = tif.pages[0].dataoffsets[0], tif.pages[0].databytecounts[0]
        n = draw(st.sampled_from([0, 1, 10**4, 10**6]))
        stream = zlib.compress(bytes(n))[:count]  # fits the strip's place
        data[offset : offset + len(stream)] = stream
    return bytes(data)


@fuzz(80)
@given(tiff_files())
def test_tiff_structures_decode_or_input_error(data):
    _check_image_result(_file(data, ".tif"))


# ---------------------------------------------------------------------------- encode
shapes = st.tuples(st.integers(1, 9), st.integers(1, 9), st.sampled_from([0, 1, 2, 3, 4]))


def _array(shape: tuple[int, int, int], dtype, seed: int) -> np.ndarray:
    h, w, c = shape
    full = (h, w) if c == 0 else (h, w, c)
    rng = np.random.default_rng(seed)
    if dtype == np.float32:
        return rng.random(full, dtype=np.float32)
    return rng.integers(0, np.iinfo(dtype).max + 1, full, dtype=dtype)


@fuzz(60)
@given(shapes, st.sampled_from(["png8", "png16", "tif8", "tif16", "tif32"]), st.integers(0, 999))
def test_arrays_round_trip_exactly(shape, kind, seed):
    dtype = {"8": np.uint8, "16": np.uint16, "32": np.float32}[
        kind.removeprefix("png").removeprefix("tif")
    ]
    arr = _array(shape, dtype, seed)
    depth = 32 if dtype == np.float32 else None  # float arrays are written 8-bit otherwise
    path = save_image(_TMP / f"rt.{kind[:3]}", arr, overwrite=True, bit_depth=depth)
    data = load_image(path)
    cube = arr if arr.ndim == 3 else arr[..., None]
    has_alpha = cube.shape[2] in (2, 4)
    color = cube[..., :-1] if has_alpha else cube
    if dtype == np.float32:
        np.testing.assert_array_equal(data.pixels, color)
    else:
        conv = to_uint8 if dtype == np.uint8 else to_uint16
        assert data.bit_depth == (8 if dtype == np.uint8 else 16)
        np.testing.assert_array_equal(conv(data.pixels), color)
    if has_alpha:
        np.testing.assert_array_equal(data.alpha, cube[..., -1])
    else:
        assert data.alpha is None


# ---------------------------------------------------------------------------- config
KEYS = [
    "name",
    "task",
    "seed",
    "sde",
    "network",
    "data",
    "loss",
    "optim",
    "lr_schedule",
    "ema",
    "train",
    "sampler",
    "max_sigma",
    "T",
    "schedule",
    "eps",
    "arch",
    "params",
    "type",
    "source",
    "gt",
    "lq",
    "crop",
    "length",
    "batch_size",
    "lr",
    "betas",
    "max_steps",
    "milestones",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["denoise", "sr4", "paired", "synthetic", "cosine", "deadleaves", ".", "x"])
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
configs = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), values, max_size=6)
VALID = {"task": "denoise", "network": {"params": {"width": 8}}, "data": {"train": {"crop": 16}}}


@st.composite
def perturbed(draw) -> dict:
    """A valid config with one nested value replaced by a random one."""
    cfg = json.loads(json.dumps(VALID))
    node = cfg
    for key in draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=3))[:-1]:
        node = node.setdefault(key, {}) if isinstance(node.get(key, {}), dict) else node
    node[draw(st.sampled_from(KEYS))] = draw(values)
    return cfg


def _check_config(fn, *args) -> None:
    try:
        cfg = fn(*args)
    except ConfigError as err:
        assert "\n" not in str(err)
        return
    assert isinstance(cfg, TrainConfig)
    cfg.sde_settings()


@fuzz(150)
@given(configs | perturbed(), st.booleans())
def test_config_mappings_parse_or_config_error(raw, with_base):
    _check_config(parse_config, raw, "fuzz.yml", _TMP if with_base else None)


@fuzz(80)
@given(st.text(max_size=200) | st.builds(json.dumps, configs))
def test_config_text_parses_or_config_error(text):
    path = _TMP / "fuzz.yml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _check_config(load_config, path)


# ---------------------------------------------------------------------------- models
def _model_bytes() -> tuple[bytes, bytes]:
    torch.manual_seed(0)
    net = build_network(
        "ConditionalNAFNet", width=4, enc_blocks=[1], middle_blocks=1, dec_blocks=[1]
    )
    st_path = save_model(net, _TMP / "seed.safetensors", task="denoise", sampler="posterior")
    pth = _TMP / "seed.pth"
    torch.save(net.state_dict(), pth)
    return st_path.read_bytes(), pth.read_bytes()


SAFETENSORS, PTH = _model_bytes()


def _split_safetensors(blob: bytes) -> tuple[dict, bytes]:
    n = struct.unpack("<Q", blob[:8])[0]
    return json.loads(blob[8 : 8 + n]), blob[8 + n :]


def _join_safetensors(header: dict, body: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + body


def _check_model(path: Path) -> None:
    try:
        net = load_model(path)
    except ModelLoadError as err:
        assert "\n" not in str(err)
        return
    assert isinstance(net.irsde_config, dict)
    assert all(torch.isfinite(p).all() for p in net.parameters())


@fuzz(60)
@given(
    st.binary(max_size=256) | mutated([SAFETENSORS]) | mutated([PTH]),
    st.sampled_from([".safetensors", ".pth", ".bin"]),
)
def test_model_bytes_load_or_model_load_error(data, suffix):
    _check_model(_file(data, suffix))


tensor_fields = st.sampled_from(["dtype", "shape", "data_offsets"])
field_values = (
    st.sampled_from(["F16", "F32", "F64", "BF16", "I64", "I8", "BOOL", "U8", "XX"])
    | st.lists(st.integers(-3, 2**33), max_size=4)
    | st.integers()
    | st.none()
)
arch_params = st.dictionaries(
    st.sampled_from(
        [
            "width",
            "enc_blocks",
            "middle_blocks",
            "dec_blocks",
            "in_nc",
            "out_nc",
            "dw_expand",
            "ffn_expand",
            "prediction",
            "sde",
            "nf",
            "depth",
            "bogus",
        ]
    ),
    st.integers(-2, 10**9) | st.lists(st.integers(-1, 10**9), max_size=3) | values,
    max_size=4,
)


@fuzz(100)
@given(
    st.lists(st.tuples(st.integers(0, 200), tensor_fields, field_values), max_size=3),
    st.none() | arch_params | values,
    st.sampled_from(["ConditionalNAFNet", "ConditionalUNet", "Nope", None]),
    st.dictionaries(st.sampled_from(["sde", "sampler", "task", "format"]), values, max_size=2),
)
def test_mutated_safetensors_headers_and_metadata(edits, params, arch, extra):
    header, body = _split_safetensors(SAFETENSORS)
    names = sorted(k for k in header if k != "__metadata__")
    for index, field, value in edits:
        header[names[index % len(names)]][field] = value
    config = json.loads(header["__metadata__"]["irsde"])
    if params is not None:
        config["arch_params"] = params  # any JSON value, not only an object
    if arch is not None:
        config["arch"] = arch
    config.update(extra)
    header["__metadata__"]["irsde"] = json.dumps(config)
    _check_model(_file(_join_safetensors(header, body), ".safetensors"))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)


@fuzz(100)
@given(
    st.sampled_from(
        ["sde", "sampler", "task", "task_params", "provenance", "arch", "arch_params", "dtype"]
    ),
    json_values,
    st.integers(0, 40),
)
def test_any_json_in_any_metadata_field_loads_or_one_line(field, value, depth):
    """Each metadata field replaced by any JSON value (NaN and infinities included),
    nested up to 40 deep: a network or a one-line ModelLoadError."""
    header, body = _split_safetensors(SAFETENSORS)
    config = json.loads(header["__metadata__"]["irsde"])
    for _ in range(depth):
        value = [value]
    config[field] = value
    header["__metadata__"]["irsde"] = json.dumps(config)
    _check_model(_file(_join_safetensors(header, body), ".safetensors"))


@pytest.mark.parametrize("blocks", [10**4, 10**8])
def test_metadata_asking_for_huge_networks_is_refused_quickly(blocks):
    header, body = _split_safetensors(SAFETENSORS)
    config = json.loads(header["__metadata__"]["irsde"])
    config["arch_params"]["middle_blocks"] = blocks
    header["__metadata__"]["irsde"] = json.dumps(config)
    with pytest.raises(ModelLoadError, match="do not match the weights: middle_blocks"):
        load_model(_file(_join_safetensors(header, body), ".safetensors"))
