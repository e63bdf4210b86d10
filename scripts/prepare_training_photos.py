"""Write the natural photos that ship inside scikit-image to a folder, for training.

The embedded models train on these photos mixed with dead-leaves images. The photos
bundled with irsde as samples (astronaut, coffee, chelsea) are held out for testing and
are excluded here (``skimage.data.cat`` is the same photo as ``chelsea``).

    python scripts/prepare_training_photos.py datasets/skimage-train
    python scripts/prepare_training_photos.py --more datasets/more-photos

    python scripts/prepare_training_photos.py --validation datasets/val-photos

``--more`` writes three further color photos that ship with packages instead: scikit-learn's
``china`` and ``flower`` (``sklearn.datasets.load_sample_images``) and matplotlib's
``grace_hopper`` sample; the later fine-tuning phases add them to the training mix.

``--validation`` writes five photos that no model trains on, to compare candidate models
on photos they have never seen (``finalize_embedded.py compare``) without touching the
test photos: the raccoon ``face`` of SciPy < 1.12 (``scipy/misc/face.dat``, removed from
later releases), PyWavelets' ``aero`` and ``ascent`` (gray), imgaug's ``quokka`` and
Ultralytics' ``bus`` (JPEG files, halved in size to shrink their compression artefacts).
Their wheels are fetched with ``pip download`` (the package index, like any install) and
read, not installed.
"""

from __future__ import annotations

import argparse
import bz2
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

TRAIN_PHOTOS = (
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "motorcycle_left",
    "motorcycle_right",
    "camera",
    "coins",
    "moon",
    "brick",
    "grass",
    "gravel",
)
HELD_OUT = ("astronaut", "coffee", "chelsea", "cat")
MORE_PHOTOS = ("china", "flower", "grace_hopper")
#: the wheels that hold the validation photos, pinned (SciPy 1.12 dropped face.dat)
VALIDATION_WHEELS = ("scipy==1.11.4", "PyWavelets==1.9.0", "imgaug==0.4.0", "ultralytics==8.4.190")
#: JPEG photos among them: (wheel name prefix, file inside the wheel)
VALIDATION_JPEGS = {
    "quokka": ("imgaug", "imgaug/quokka.jpg"),
    "bus": ("ultralytics", "ultralytics/assets/bus.jpg"),
}


def more_photos() -> dict[str, np.ndarray]:
    """scikit-learn's two sample photos and matplotlib's Grace Hopper portrait."""
    import matplotlib.cbook
    from sklearn.datasets import load_sample_images

    samples = load_sample_images()
    photos = {Path(f).stem: img for f, img in zip(samples.filenames, samples.images, strict=True)}
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        photos["grace_hopper"] = np.asarray(Image.open(f).convert("RGB"))
    return {name: photos[name] for name in MORE_PHOTOS}


def _wheel_file(folder: Path, prefix: str, member: str) -> bytes:
    (wheel,) = folder.glob(f"{prefix}-*.whl")
    with zipfile.ZipFile(wheel) as z:
        return z.read(member)


def validation_photos() -> dict[str, np.ndarray]:
    """SciPy's raccoon ``face``, PyWavelets' ``aero`` and ``ascent`` (gray), imgaug's
    ``quokka`` and Ultralytics' ``bus`` (both halved)."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp]
        subprocess.run([*cmd, *VALIDATION_WHEELS], check=True)
        folder = Path(tmp)
        raw = bz2.decompress(_wheel_file(folder, "scipy", "scipy/misc/face.dat"))
        photos = {"face": np.frombuffer(raw, np.uint8).reshape(768, 1024, 3)}
        for name in ("aero", "ascent"):
            data = _wheel_file(folder, "pywavelets", f"pywt/data/{name}.npz")
            photos[name] = np.load(io.BytesIO(data))["data"]
        for name, (prefix, member) in VALIDATION_JPEGS.items():
            img = Image.open(io.BytesIO(_wheel_file(folder, prefix, member))).convert("RGB")
            photos[name] = np.asarray(img.reduce(2))
    return photos


def skimage_photos() -> dict[str, np.ndarray]:
    """The scikit-image photos listed in ``TRAIN_PHOTOS``."""
    import skimage.data

    photos = {}
    for name in TRAIN_PHOTOS:
        if name.startswith("motorcycle"):
            photos[name] = skimage.data.stereo_motorcycle()[0 if name.endswith("left") else 1]
        else:
            photos[name] = getattr(skimage.data, name)()
    return photos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--more", action="store_true", help="the scikit-learn/matplotlib photos")
    which.add_argument("--validation", action="store_true", help="the never-trained-on photos")
    args = parser.parse_args()
    if args.validation:
        photos = validation_photos()
    else:
        photos = more_photos() if args.more else skimage_photos()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, img in photos.items():
        Image.fromarray(np.asarray(img, dtype=np.uint8)).save(args.out / f"{name}.png")
    print(f"wrote {len(photos)} photos to {args.out}")


if __name__ == "__main__":
    main()
