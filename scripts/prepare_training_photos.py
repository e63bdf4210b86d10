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

``--debian`` writes the photographs of two Debian packages (``DEBIAN_PHOTOS``: each listed
by name with its licence, abstract renders, logos and illustrations left out), fetched with
``apt-get download`` (no root needed) and unpacked with ``dpkg-deb -x``, converted to PNG at
full resolution: ``train/`` and ``heldout/`` by the split fixed below (decided before any
model trained on them), ``train-tiles/`` (the training photos halved, as JPEG photos are
elsewhere here to shrink their compression artefacts, and cut into 512px tiles, so that
drawing files uniformly draws crops in proportion to image area), ``heldout-crops/``
(two 256px crops of each held-out photo, halved likewise: what ``benchmarks/quality.py
--images`` and ``finalize_embedded.py compare --photos`` score) and ``manifest.csv``
(package, version, file, size, licence, split, bokeh). The folder appears only when all
of it is written (a temporary folder renamed at the end).

    python scripts/prepare_training_photos.py --debian datasets/debian-photos
"""

from __future__ import annotations

import argparse
import bz2
import csv
import fnmatch
import io
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

#: the Debian packages (main archive) whose photographs ``--debian`` writes
DEBIAN_PACKAGES = ("plasma-workspace-wallpapers", "mate-backgrounds")
_KDE = "usr/share/wallpapers/{}/contents/images/{}"
_MATE = "usr/share/backgrounds/mate/nature/{}"
#: name: (package, file inside it, licence and copyright holder as its
#: ``usr/share/doc/<package>/copyright`` states them, split, bokeh). Bokeh: large
#: out-of-focus (or motion-blurred) areas, poor ground truth for deblurring and
#: super-resolution (``--sharp-only`` leaves them out of the tiles); fine for denoising.
#: Left out as not photographs: the KDE renders and illustrations (Altai, Autumn, Canopee,
#: Cascade, Cluster, Elarun, Flow, FlyingKonqui, Honeywave, IceCold, Kay, Kokkini, MilkyWay,
#: Opal, PastelHills, Patak, SafeLanding, Shell, Volna) and MATE's abstract/ and desktop/.
_KDE_LICENCE = "GPL-2+ (Copyright: 2014 KDE Visual Design Group http://vdesign.kde.org/)"
DEBIAN_PHOTOS: dict[str, tuple[str, str, str, str, bool]] = {
    "BytheWater": ("plasma-workspace-wallpapers", _KDE.format("BytheWater", "2560x1600.jpg"), _KDE_LICENCE, "train", True),
    "ColdRipple": ("plasma-workspace-wallpapers", _KDE.format("ColdRipple", "2560x1600.jpg"), _KDE_LICENCE, "train", False),
    "ColorfulCups": ("plasma-workspace-wallpapers", _KDE.format("ColorfulCups", "2560x1600.jpg"), _KDE_LICENCE, "heldout", False),
    "DarkestHour": ("plasma-workspace-wallpapers", _KDE.format("DarkestHour", "2560x1600.jpg"), _KDE_LICENCE, "train", False),
    "EveningGlow": ("plasma-workspace-wallpapers", _KDE.format("EveningGlow", "2560x1600.jpg"), _KDE_LICENCE, "heldout", False),
    "FallenLeaf": ("plasma-workspace-wallpapers", _KDE.format("FallenLeaf", "2560x1600.jpg"), _KDE_LICENCE, "train", True),
    "Grey": ("plasma-workspace-wallpapers", _KDE.format("Grey", "2560x1600.jpg"), _KDE_LICENCE, "train", False),
    "Kite": ("plasma-workspace-wallpapers", _KDE.format("Kite", "2560x1600.jpg"), _KDE_LICENCE, "train", False),
    "OneStandsOut": ("plasma-workspace-wallpapers", _KDE.format("OneStandsOut", "2560x1600.jpg"), _KDE_LICENCE, "train", False),
    "Path": ("plasma-workspace-wallpapers", _KDE.format("Path", "2560x1600.jpg"), _KDE_LICENCE, "heldout", False),
    "summer_1am": ("plasma-workspace-wallpapers", _KDE.format("summer_1am", "2560x1600.jpg"), _KDE_LICENCE, "train", False),
    "Aqua": ("mate-backgrounds", _MATE.format("Aqua.jpg"), "GPL-2+ (Copyright: 2008, Charles Barbin)", "train", True),
    "Blinds": ("mate-backgrounds", _MATE.format("Blinds.jpg"), "GPL-2+ (Copyright: 2008, Lennart Poettering; 2008, Andrea Cimitan)", "train", False),
    "Dune": ("mate-backgrounds", _MATE.format("Dune.jpg"), "GPL-2+ (Copyright: 2007, Marco Cogoni; 2008, Hylke Bons)", "train", True),
    "FreshFlower": ("mate-backgrounds", _MATE.format("FreshFlower.jpg"), "GPL-2+ (Copyright: 2005, Jens Ansorg)", "train", True),
    "Garden": ("mate-backgrounds", _MATE.format("Garden.jpg"), "GPL-2+ (Copyright: 2008, Charles Barbin)", "train", True),
    "GreenMeadow": ("mate-backgrounds", _MATE.format("GreenMeadow.jpg"), "GPL-2+ (Copyright: 2005, Timothy Schellhase; 2008, Lapo Calamandrei)", "train", False),
    "LadyBird": ("mate-backgrounds", _MATE.format("LadyBird.jpg"), "GPL-2+ (Copyright: 2008, Charles Barbin)", "heldout", True),
    "RainDrops": ("mate-backgrounds", _MATE.format("RainDrops.jpg"), "GPL-2+ (Copyright: 2008, blackcombwhistler07)", "heldout", False),
    "Storm": ("mate-backgrounds", _MATE.format("Storm.jpg"), "GPL-2+ (Copyright: 2008, Sergey Nazarov)", "train", True),
    "TwoWings": ("mate-backgrounds", _MATE.format("TwoWings.jpg"), "GPL-2+ (Copyright: 2008, Charles Barbin; 2008, Hylke Bons)", "train", True),
    "Wood": ("mate-backgrounds", _MATE.format("Wood.jpg"), "GPL-2+ (Copyright: 2008, Jean-François Fortin Tam)", "train", True),
    "YellowFlower": ("mate-backgrounds", _MATE.format("YellowFlower.jpg"), "GPL-2+ (Copyright: 2008, Charles Barbin)", "train", False),
}  # fmt: skip
#: side of the training tiles (``train-tiles/``), cut from the photos reduced this many times
TILE, TILE_REDUCE = 512, 2
#: side of the held-out crops (``heldout-crops/``), two per photo
EVAL_CROP = 256
MANIFEST_FIELDS = (
    "package",
    "version",
    "file",
    "photo",
    "split",
    "width",
    "height",
    "bytes",
    "licence",
    "bokeh",
)

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


def copyright_licence(text: str, path: str) -> str:
    """The ``License:`` of the last paragraph of a machine-readable Debian copyright file
    whose ``Files:`` patterns match ``path`` (a path inside the package; patterns name
    paths of the source tree, matched as path suffixes). Empty when none matches."""
    found = ""
    for para in text.split("\n\n"):
        fields: dict[str, list[str]] = {}
        key = None
        for line in para.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key].append(line.strip())
            elif ":" in line:
                key, value = line.split(":", 1)
                fields[key] = [value.strip()]
        patterns = [w for v in fields.get("Files", []) for w in v.split()]
        if any(w == "*" or fnmatch.fnmatch(path, f"*/{w}") for w in patterns):
            found = fields.get("License", [""])[0]
    return found


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> str:
    """stdout of ``cmd``; a one-line SystemExit naming ``what`` when it is missing or fails."""
    if shutil.which(cmd[0]) is None:
        raise SystemExit(f"error: {what}: {cmd[0]} not found (a Debian/Ubuntu package client)")
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        lines = [ln for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
        raise SystemExit(f"error: {what}: {lines[-1] if lines else f'exit {done.returncode}'}")
    return done.stdout


def fetch_packages(packages: tuple[str, ...], work: Path) -> dict[str, tuple[Path, str]]:
    """``apt-get download`` each package into ``work`` and unpack it: {package: (root, version)}."""
    unpacked = {}
    for pkg in packages:
        _run(["apt-get", "download", pkg], f"apt-get download {pkg}", cwd=work)
        (deb,) = work.glob(f"{pkg}_*.deb")
        version = _run(["dpkg-deb", "-f", str(deb), "Version"], f"{deb.name}").strip()
        root = work / pkg
        _run(["dpkg-deb", "-x", str(deb), str(root)], f"dpkg-deb -x {deb.name}")
        unpacked[pkg] = (root, version)
    return unpacked


def tile_origins(length: int, size: int) -> list[int]:
    """Tile starts covering ``length`` with tiles of ``size`` (the last one flush with the
    end, overlapping its neighbour; one tile when shorter)."""
    if length <= size:
        return [0]
    starts = list(range(0, length - size + 1, size))
    return starts if starts[-1] == length - size else [*starts, length - size]


def heldout_crops(img: Image.Image) -> dict[str, np.ndarray]:
    """Two ``EVAL_CROP`` squares of the halved photo, centred on its left and right
    halves: {suffix: crop}."""
    arr = np.asarray(img.reduce(TILE_REDUCE))
    h, w = arr.shape[:2]
    side = min(EVAL_CROP, h, w // 2)
    y = (h - side) // 2
    return {
        f"{i}": arr[y : y + side, cx - side // 2 : cx - side // 2 + side]
        for i, cx in enumerate((w // 4, 3 * w // 4))
    }


def write_manifest(rows: list[dict], path: Path) -> None:
    """The manifest: one CSV row per photo, ``MANIFEST_FIELDS``."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, MANIFEST_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def write_debian_photos(
    unpacked: dict[str, tuple[Path, str]], out: Path, sharp_only: bool = False
) -> list[dict]:
    """Write ``DEBIAN_PHOTOS`` from unpacked packages into ``out`` (``train/``,
    ``heldout/``, ``train-tiles/``, ``heldout-crops/``, ``manifest.csv``); checks each listed licence against
    the package's copyright file. ``sharp_only``: no tiles of bokeh photos."""
    rows = []
    for split in ("train", "heldout", "train-tiles", "heldout-crops"):
        (out / split).mkdir(parents=True)
    for name, (pkg, member, licence, split, bokeh) in DEBIAN_PHOTOS.items():
        root, version = unpacked[pkg]
        src = root / member
        copyright_file = root / "usr" / "share" / "doc" / pkg / "copyright"
        if not src.is_file():
            raise SystemExit(f"error: {pkg} {version}: no {member}")
        stated = copyright_licence(copyright_file.read_text(encoding="utf-8"), member)
        if stated != licence.split(" (")[0]:
            raise SystemExit(f"error: {copyright_file}: {member} is {stated!r}, listed {licence!r}")
        with Image.open(src) as im:
            img = im.convert("RGB")
        img.save(out / split / f"{name}.png")
        if split == "heldout":
            for suffix, crop in heldout_crops(img).items():
                Image.fromarray(crop).save(out / "heldout-crops" / f"{name}_{suffix}.png")
        if split == "train" and not (sharp_only and bokeh):
            arr = np.asarray(img.reduce(TILE_REDUCE))
            for y in tile_origins(arr.shape[0], TILE):
                for x in tile_origins(arr.shape[1], TILE):
                    tile = arr[y : y + TILE, x : x + TILE]
                    Image.fromarray(tile).save(out / "train-tiles" / f"{name}_{y}_{x}.png")
        rows.append(
            {"package": pkg, "version": version, "file": member, "photo": f"{split}/{name}.png",
             "split": split, "width": img.width, "height": img.height,
             "bytes": src.stat().st_size, "licence": licence, "bokeh": bokeh}
        )  # fmt: skip
    write_manifest(rows, out / "manifest.csv")
    return rows


def debian_photos(out: Path, sharp_only: bool = False) -> list[dict]:
    """Download, unpack and write the Debian photos to ``out``, all or nothing."""
    if out.exists():
        raise SystemExit(f"error: {out} exists; remove it first to rebuild it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        with tempfile.TemporaryDirectory() as work:
            rows = write_debian_photos(
                fetch_packages(DEBIAN_PACKAGES, Path(work)), tmp / "p", sharp_only
            )
        os.replace(tmp / "p", out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--more", action="store_true", help="the scikit-learn/matplotlib photos")
    which.add_argument("--validation", action="store_true", help="the never-trained-on photos")
    which.add_argument("--debian", action="store_true", help="the Debian wallpaper photos")
    parser.add_argument("--sharp-only", action="store_true", help="--debian: no bokeh tiles")
    args = parser.parse_args()
    if args.debian:
        rows = debian_photos(args.out, args.sharp_only)
        held = sum(r["split"] == "heldout" for r in rows)
        print(f"wrote {len(rows)} photos ({held} held out) and {args.out / 'manifest.csv'}")
        return
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
