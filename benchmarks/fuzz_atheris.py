"""Coverage-guided fuzzing of the image and model readers, for a bounded time. Not in CI.

Targets (``--target``):

- ``image``: :func:`irsde.io.load_image` on the fuzzed bytes must return an ``ImageData``
  or raise :class:`~irsde.errors.InputError`;
- ``model``: :func:`irsde.models.load_model` (as ``.safetensors`` and as ``.pth``) must
  return a network or raise :class:`~irsde.errors.ModelLoadError`.

Any other exception is a finding: it is printed with its input, which is saved under
``--crashes``. With ``atheris`` installed (``pip install atheris``) the run is
coverage-guided (libFuzzer); without it, the script falls back to a random-mutation
loop over the same seeds for the same time. Usage::

    .venv/bin/python benchmarks/fuzz_atheris.py --target image --seconds 60
    .venv/bin/python benchmarks/fuzz_atheris.py --target model --seconds 60 [--no-atheris]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import random
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

#: pixel limit while fuzzing (every input decodes fast)
LIMIT = 1 << 16
WORK = Path(tempfile.mkdtemp(prefix="irsde-atheris-"))


def image_seeds() -> list[bytes]:
    from PIL import Image

    from irsde.io import save_image

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    seeds = []
    for fmt, mode in (
        ("PNG", "RGB"),
        ("PNG", "P"),
        ("JPEG", "RGB"),
        ("BMP", "RGB"),
        ("WEBP", "RGB"),
        ("GIF", "P"),
    ):
        buf = io.BytesIO()
        Image.fromarray(rgb).convert(mode).save(buf, format=fmt)
        seeds.append(buf.getvalue())
    for arr, name in (
        (rng.integers(0, 65536, (9, 11, 3), dtype=np.uint16), "a.png"),
        (rng.integers(0, 65536, (9, 11, 4), dtype=np.uint16), "b.tif"),
        (rng.random((9, 11, 3), dtype=np.float32), "c.tif"),
    ):
        seeds.append(
            save_image(
                WORK / name, arr, overwrite=True, bit_depth=32 if arr.dtype == np.float32 else None
            ).read_bytes()
        )
    return seeds


def model_seeds() -> list[bytes]:
    import torch

    from irsde.models import save_model
    from irsde.nets import build_network

    torch.manual_seed(0)
    net = build_network(
        "ConditionalNAFNet", width=4, enc_blocks=[1], middle_blocks=1, dec_blocks=[1]
    )
    st = save_model(net, WORK / "seed.safetensors", task="denoise", sampler="posterior")
    torch.save(net.state_dict(), WORK / "seed.pth")
    return [st.read_bytes(), (WORK / "seed.pth").read_bytes()]


def image_target(data: bytes) -> None:
    from irsde.errors import InputError
    from irsde.io import load_image

    path = WORK / "input.img"
    path.write_bytes(data)
    with contextlib.suppress(InputError):
        load_image(path, limit=LIMIT)


def model_target(data: bytes) -> None:
    from irsde.errors import ModelLoadError
    from irsde.models import load_model

    for suffix in (".safetensors", ".pth"):
        path = WORK / f"input{suffix}"
        path.write_bytes(data)
        with contextlib.suppress(ModelLoadError):
            load_model(path)


TARGETS: dict[str, tuple[Callable[[bytes], None], Callable[[], list[bytes]]]] = {
    "image": (image_target, image_seeds),
    "model": (model_target, model_seeds),
}


def mutate(data: bytes, rng: random.Random) -> bytes:
    """A few random byte flips, overwrites, insertions, deletions and maybe a cut."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.choice(("flip", "set", "insert", "delete", "copy"))
        pos = rng.randrange(len(buf)) if buf else 0
        if op == "flip" and buf:
            buf[pos] ^= 1 << rng.randrange(8)
        elif op == "set" and buf:
            buf[pos] = rng.choice((0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)))
        elif op == "insert":
            buf[pos:pos] = os.urandom(rng.randint(1, 16))
        elif op == "delete":
            del buf[pos : pos + rng.randint(1, 32)]
        elif op == "copy" and buf:
            n = rng.randint(1, 32)
            src = rng.randrange(len(buf))
            buf[pos:pos] = buf[src : src + n]
    if rng.random() < 0.2:
        buf = buf[: rng.randrange(len(buf) + 1)]
    return bytes(buf)


def save_crash(data: bytes, crashes: Path) -> Path:
    crashes.mkdir(parents=True, exist_ok=True)
    path = crashes / f"crash-{hashlib.sha1(data).hexdigest()[:12]}"
    path.write_bytes(data)
    return path


def random_loop(target, seeds: list[bytes], seconds: float, crashes: Path, seed: int) -> int:
    """Fallback without atheris: mutate seeds (and earlier mutants) for ``seconds``."""
    rng = random.Random(seed)
    pool = list(seeds)
    runs = findings = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        data = mutate(rng.choice(pool), rng)
        runs += 1
        try:
            target(data)
        except Exception:
            findings += 1
            print(f"FINDING ({save_crash(data, crashes)}):\n{traceback.format_exc()}")
        if len(pool) < 500 and rng.random() < 0.05:
            pool.append(data)
    print(f"random-mutation fuzzing: {runs} inputs in {seconds:.0f} s, {findings} findings")
    return 1 if findings else 0


def atheris_run(target, seeds: list[bytes], seconds: float, crashes: Path) -> int:
    import atheris

    corpus = WORK / "corpus"
    corpus.mkdir(exist_ok=True)
    for i, s in enumerate(seeds):
        (corpus / f"seed{i}").write_bytes(s)
    count = {"n": 0}

    def one(data: bytes) -> None:
        count["n"] += 1
        target(data)

    crashes.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.argv[0],
        f"-max_total_time={int(seconds)}",
        f"-artifact_prefix={crashes}/",
        "-max_len=65536",
        "-rss_limit_mb=4096",
        str(corpus),
    ]
    atheris.Setup(argv, one)
    atheris.Fuzz()  # exits the process: 0 at the time limit, non-zero on a finding
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", choices=sorted(TARGETS), default="image")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--crashes", type=Path, default=Path("fuzz-crashes"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-atheris", action="store_true", help="use the random-mutation loop")
    args = ap.parse_args()
    import logging

    logging.disable(logging.WARNING)  # the readers warn on odd inputs; keep the output short
    import warnings

    warnings.simplefilter("ignore")
    target, make_seeds = TARGETS[args.target]
    if not args.no_atheris:
        try:
            import atheris
        except ImportError:
            print("atheris is not installed: falling back to random mutation", file=sys.stderr)
        else:
            # instrument the readers (not torch: far too many functions) for coverage
            with atheris.instrument_imports(include=["irsde", "PIL", "tifffile"]):
                import PIL.Image  # noqa: F401

                import irsde.io
                import irsde.models  # noqa: F401
            return atheris_run(target, make_seeds(), args.seconds, args.crashes)
    return random_loop(target, make_seeds(), args.seconds, args.crashes, args.seed)


if __name__ == "__main__":
    sys.exit(main())
