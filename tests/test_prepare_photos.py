"""scripts/prepare_training_photos.py --debian on a fake unpacked tree (no download)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import prepare_training_photos as prep

KDE_COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: plasma-workspace-wallpapers

Files: *
Copyright: 2014 KDE Visual Design Group http://vdesign.kde.org/
License: GPL-2+

Files: debian/*
Copyright: 2014, Scarlett Clark
License: GPL-2+

License: GPL-2+
 This package is free software
"""

MATE_COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: desktop/Ubuntu-Mate-*-no-logo.png
Copyright: 2014 Goce Mitevski
License: CC-BY-SA-4.0

Files: nature/Aqua.jpg
       nature/LadyBird.jpg
Copyright: 2008, Charles Barbin
License: GPL-2+

Files: nature/*.jpg
Copyright: 2008, someone
License: GPL-2+
"""


def fake_tree(root: Path, size: tuple[int, int] = (40, 24)) -> dict[str, tuple[Path, str]]:
    """Every listed photo as a small JPEG under a fake unpacked package, with copyrights."""
    rng = np.random.default_rng(0)
    texts = {"plasma-workspace-wallpapers": KDE_COPYRIGHT, "mate-backgrounds": MATE_COPYRIGHT}
    unpacked = {}
    for pkg, text in texts.items():
        doc = root / pkg / "usr" / "share" / "doc" / pkg
        doc.mkdir(parents=True)
        (doc / "copyright").write_text(text)
        unpacked[pkg] = (root / pkg, "1.0-1")
    for pkg, member, *_ in prep.DEBIAN_PHOTOS.values():
        path = root / pkg / member
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path)
    return unpacked


def test_copyright_licence_takes_the_last_matching_paragraph():
    member = "usr/share/backgrounds/mate/nature/Aqua.jpg"
    assert prep.copyright_licence(MATE_COPYRIGHT, member) == "GPL-2+"
    shot = "usr/share/backgrounds/mate/desktop/Ubuntu-Mate-Cold-no-logo.png"
    assert prep.copyright_licence(MATE_COPYRIGHT, shot) == "CC-BY-SA-4.0"
    assert prep.copyright_licence(MATE_COPYRIGHT, "usr/share/other/x.png") == ""
    assert prep.copyright_licence(KDE_COPYRIGHT, "usr/share/wallpapers/Path/a.jpg") == "GPL-2+"


def test_tile_origins_cover_the_image():
    assert prep.tile_origins(300, 512) == [0]
    assert prep.tile_origins(1024, 512) == [0, 512]
    assert prep.tile_origins(1280, 512) == [0, 512, 768]


def test_photo_list_is_a_fixed_split_with_licences():
    splits = {spec[3] for spec in prep.DEBIAN_PHOTOS.values()}
    assert splits == {"train", "heldout"}
    for pkg in prep.DEBIAN_PACKAGES:  # each package gives photos to both parts
        parts = {s[3] for s in prep.DEBIAN_PHOTOS.values() if s[0] == pkg}
        assert parts == {"train", "heldout"}
    assert all(s[2].startswith("GPL-2+ (Copyright: ") for s in prep.DEBIAN_PHOTOS.values())
    # today's held-out test photos are no Debian photo's name
    assert not set(prep.HELD_OUT) & set(prep.DEBIAN_PHOTOS)


def test_write_debian_photos_writes_splits_tiles_and_manifest(tmp_path):
    unpacked = fake_tree(tmp_path / "x")
    out = tmp_path / "photos"
    rows = prep.write_debian_photos(unpacked, out)
    assert len(rows) == len(prep.DEBIAN_PHOTOS)
    with (out / "manifest.csv").open() as f:
        manifest = list(csv.DictReader(f))
    assert [r["photo"] for r in manifest] == [r["photo"] for r in rows]
    assert set(manifest[0]) == set(prep.MANIFEST_FIELDS)
    for row in manifest:
        assert (out / row["photo"]).is_file()
        assert row["version"] == "1.0-1" and row["licence"].startswith("GPL-2+")
        assert (row["width"], row["height"]) == ("40", "24")
    train = {p.stem for p in (out / "train").glob("*.png")}
    held = {p.stem for p in (out / "heldout").glob("*.png")}
    assert train and held and not train & held
    # tiles come from training photos only; held-out crops from held-out ones only
    tiles = {p.stem.split("_")[0] for p in (out / "train-tiles").glob("*.png")}
    assert tiles == {n.split("_")[0] for n in train}
    crops = {p.stem.rsplit("_", 1)[0] for p in (out / "heldout-crops").glob("*.png")}
    assert crops == held
    img = np.asarray(Image.open(out / "train" / f"{sorted(train)[0]}.png"))
    assert img.shape == (24, 40, 3)  # full resolution


def test_sharp_only_leaves_bokeh_photos_out_of_the_tiles(tmp_path):
    out = tmp_path / "photos"
    prep.write_debian_photos(fake_tree(tmp_path / "x"), out, sharp_only=True)
    tiled = {p.stem.split("_")[0] for p in (out / "train-tiles").glob("*.png")}
    bokeh = {n for n, s in prep.DEBIAN_PHOTOS.items() if s[4]}
    assert tiled and not tiled & bokeh


def test_a_licence_that_differs_from_the_copyright_file_is_an_error(tmp_path):
    unpacked = fake_tree(tmp_path / "x")
    root = unpacked["mate-backgrounds"][0]
    text = MATE_COPYRIGHT.replace("nature/*.jpg\nCopyright: 2008, someone\nLicense: GPL-2+",
                                  "nature/*.jpg\nCopyright: 2008, someone\nLicense: CC0")  # fmt: skip
    (root / "usr/share/doc/mate-backgrounds/copyright").write_text(text)
    with pytest.raises(SystemExit, match=r"copyright: .* is 'CC0'"):
        prep.write_debian_photos(unpacked, tmp_path / "photos")


def test_missing_file_in_package_is_a_one_line_error(tmp_path):
    unpacked = fake_tree(tmp_path / "x")
    pkg, member, *_ = prep.DEBIAN_PHOTOS["Path"]
    (tmp_path / "x" / pkg / member).unlink()
    with pytest.raises(SystemExit, match=r"^error: plasma-workspace-wallpapers 1\.0-1: no usr/"):
        prep.write_debian_photos(unpacked, tmp_path / "photos")


def test_missing_package_client_is_a_one_line_error_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    out = tmp_path / "data" / "debian-photos"
    with pytest.raises(SystemExit, match=r"^error: apt-get download .*: apt-get not found"):
        prep.debian_photos(out)
    assert not out.exists() and list((tmp_path / "data").iterdir()) == []


def test_failed_download_is_a_one_line_error(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "apt-get"
    fake.write_text("#!/bin/sh\necho 'E: Unable to locate package' >&2\nexit 100\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    out = tmp_path / "debian-photos"
    with pytest.raises(SystemExit) as err:
        prep.debian_photos(out)
    assert str(err.value) == (
        "error: apt-get download plasma-workspace-wallpapers: E: Unable to locate package"
    )
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["bin"]


def test_an_existing_folder_is_never_overwritten(tmp_path):
    out = tmp_path / "debian-photos"
    out.mkdir()
    (out / "keep.png").write_bytes(b"x")
    with pytest.raises(SystemExit, match="exists; remove it first"):
        prep.debian_photos(out)
    assert (out / "keep.png").read_bytes() == b"x"
