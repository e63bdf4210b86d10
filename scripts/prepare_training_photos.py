"""Write the natural photos that ship inside scikit-image to a folder, for training.

The embedded models train on these photos mixed with dead-leaves images. The photos
bundled with irsde as samples (astronaut, coffee, chelsea) are held out for testing and
are excluded here (``skimage.data.cat`` is the same photo as ``chelsea``).

    python scripts/prepare_training_photos.py datasets/skimage-train
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    import skimage.data

    args.out.mkdir(parents=True, exist_ok=True)
    for name in TRAIN_PHOTOS:
        if name.startswith("motorcycle"):
            img = skimage.data.stereo_motorcycle()[0 if name.endswith("left") else 1]
        else:
            img = getattr(skimage.data, name)()
        Image.fromarray(np.asarray(img, dtype=np.uint8)).save(args.out / f"{name}.png")
    print(f"wrote {len(TRAIN_PHOTOS)} photos to {args.out}")


if __name__ == "__main__":
    main()
