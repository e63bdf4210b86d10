"""Datasets: listing, pairing, aligned crops, augmentation, file formats, seeding."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from irsde.data import (
    PairedFolderDataset,
    SyntheticDataset,
    ValidationDataset,
    augment_fixed,
    dead_leaves,
    list_images,
)
from irsde.degrade import bicubic_downsample, bicubic_resize, smooth_field
from irsde.errors import ConfigError
from irsde.io import write_image


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def textured(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth but unique image (features of ~4-8 px)."""
    g = rng(seed)
    return np.stack([smooth_field((h, w), g, cells=w // 6, octaves=2) for _ in range(3)], -1)


def make_pairs(root, names, gt_size=(32, 32), lq_size=None, lq_names=None):
    for i, n in enumerate(names):
        write_image(root / "GT" / f"{n}.png", textured(*gt_size, i))
    for i, n in enumerate(lq_names if lq_names is not None else names):
        write_image(root / "LQ" / f"{n}.png", textured(*(lq_size or gt_size), 100 + i))
    return root


def test_list_images_sorted_skips_hidden_and_others(tmp_path):
    for name in ["b.PNG", "a.jpg", ".hidden.png", "c.txt", "d.webp", "e.tif"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.PNG", "d.webp", "e.tif"]
    with pytest.raises(ConfigError, match="no such folder"):
        list_images(tmp_path / "missing")


def test_pairing_errors_list_unmatched_names(tmp_path):
    gt = [f"img{i:02d}" for i in range(10)]
    make_pairs(tmp_path, gt, lq_names=[*gt[:2], "extra"])
    with pytest.raises(ConfigError) as err:
        PairedFolderDataset(tmp_path)
    msg = str(err.value)
    assert "8 GT image(s) without LQ" in msg and "img02" in msg and "(8 in all)" in msg
    assert "1 LQ image(s) without GT: extra" in msg
    with pytest.raises(ConfigError, match="no images"):
        (tmp_path / "empty").mkdir()
        PairedFolderDataset(tmp_path / "empty", tmp_path / "LQ")


def test_paired_items_and_suffix(tmp_path):
    make_pairs(tmp_path, ["a", "b"], lq_names=["ax4", "bx4"], gt_size=(40, 36))
    ds = PairedFolderDataset(tmp_path / "GT", tmp_path / "LQ", crop=16, lq_suffix="x4")
    item = ds[1]
    assert item["name"] == "b"
    assert item["gt"].shape == item["lq"].shape == (3, 16, 16)
    assert item["gt"].dtype == torch.float32


def test_augmentation_identical_for_gt_and_lq(tmp_path):
    root = tmp_path
    for i in range(3):
        img = textured(24, 40, i)
        write_image(root / "GT" / f"{i}.png", img)
        write_image(root / "LQ" / f"{i}.png", img)
    ds = PairedFolderDataset(root, crop=16, augment=True, seed=3)
    transforms = set()
    for epoch in range(3):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            item = ds[i]
            assert torch.equal(item["gt"], item["lq"])
            transforms.add(item["gt"][:, 0, 0].sum().item())
    assert len(transforms) > 3
    img = np.arange(6.0).reshape(2, 3, 1)
    assert np.array_equal(augment_fixed(img, True, False, 0)[..., 0], [[2, 1, 0], [5, 4, 3]])


@pytest.mark.parametrize("augment", [False, True])
def test_sr4_crop_alignment(tmp_path, augment):
    gt_full = textured(64, 80, 1)
    write_image(tmp_path / "GT" / "x.png", gt_full)
    write_image(tmp_path / "LQ" / "x.png", bicubic_downsample(gt_full, 4))
    ds = PairedFolderDataset(tmp_path, crop=32, scale=4, augment=augment)
    from irsde.io import read_image

    gt_full = read_image(tmp_path / "GT" / "x.png")
    mu_full = bicubic_resize(read_image(tmp_path / "LQ" / "x.png"), (64, 80))
    for epoch in range(4):
        ds.set_epoch(epoch)
        item = ds[0]
        gt = item["gt"].permute(1, 2, 0).numpy()
        lq = item["lq"].permute(1, 2, 0).numpy()
        # find the GT crop (and its symmetry) in the full GT, at multiples of 4
        found = [
            (y, x, f, v, k)
            for y in range(0, 33, 4)
            for x in range(0, 49, 4)
            for f in (False, True)
            for v in (False, True)
            for k in range(4)
            if np.array_equal(augment_fixed(gt_full[y : y + 32, x : x + 32], f, v, k), gt)
        ]
        assert found, "GT crop not found at an aligned position"
        y, x, f, v, k = found[0]
        expect = augment_fixed(mu_full[y : y + 32, x : x + 32], f, v, k)
        assert np.allclose(lq, expect, atol=1e-5)
        assert np.abs(lq - gt).mean() < 0.05


def test_sr4_full_images_for_validation(tmp_path):
    gt = textured(66, 81, 2)  # not a multiple of 4: GT is cut to 64 x 80
    write_image(tmp_path / "GT" / "x.png", gt)
    write_image(tmp_path / "LQ" / "x.png", bicubic_resize(gt, (16, 20)))
    item = ValidationDataset(tmp_path / "GT", tmp_path / "LQ", task="sr4")[0]
    assert item["gt"].shape == item["lq"].shape == (3, 64, 80)


def test_size_mismatch_skipped_with_warning(tmp_path, caplog):
    make_pairs(tmp_path, ["a"], gt_size=(32, 32), lq_size=(30, 32))
    make_pairs(tmp_path, ["b"], gt_size=(32, 32))
    ds = PairedFolderDataset(tmp_path, crop=16, augment=False)
    with caplog.at_level(logging.WARNING):
        assert ds[0]["name"] == "b"
    assert "a.png" in caplog.text and "sizes differ" in caplog.text


def test_file_formats_load_as_rgb(tmp_path):
    folder = tmp_path / "gt"
    folder.mkdir()
    Image.fromarray(np.full((20, 24), 32768, np.uint16)).save(folder / "gray16.png")
    Image.fromarray(np.full((20, 24), 128, np.uint8)).save(folder / "gray8.png")
    Image.fromarray(np.full((20, 24, 4), [255, 0, 0, 10], np.uint8)).save(folder / "rgba.png")
    Image.fromarray(np.full((20, 24, 3), 200, np.uint8)).save(folder / "photo.jpg")
    Image.fromarray(np.full((20, 24, 3), 100, np.uint8)).save(folder / "pic.webp", lossless=True)
    Image.fromarray(np.full((20, 24, 3), 50, np.uint8)).save(folder / "tiff.tif")
    ds = SyntheticDataset(folder, "denoise", crop=16, augment=False, params={"sigma": 0})
    items = {ds[i]["name"]: ds[i]["gt"] for i in range(len(ds))}
    assert len(items) == 6
    for gt in items.values():
        assert gt.shape == (3, 16, 16) and gt.dtype == torch.float32
    assert torch.allclose(items["gray16"], torch.tensor(0.5), atol=1e-3)
    assert torch.allclose(items["gray8"], torch.tensor(128 / 255), atol=1e-6)
    assert torch.allclose(items["rgba"][:, 0, 0], torch.tensor([1.0, 0.0, 0.0]))  # alpha dropped
    assert torch.allclose(items["tiff"], torch.tensor(50 / 255), atol=1e-6)
    assert torch.allclose(items["pic"], torch.tensor(100 / 255), atol=1e-6)


def test_rgb16_tiff(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    folder = tmp_path / "gt"
    folder.mkdir()
    tifffile.imwrite(folder / "a.tif", np.full((20, 24, 3), [65535, 32768, 0], np.uint16))
    gt = SyntheticDataset(folder, "denoise", crop=16, params={"sigma": 0})[0]["gt"]
    assert torch.allclose(gt[:, 0, 0], torch.tensor([1.0, 0.5, 0.0]), atol=1e-3)


def test_inpainting_items_carry_their_hole_mask(tmp_path):
    write_image(tmp_path / "a.png", textured(40, 40, 0))
    item = SyntheticDataset(tmp_path, "inpaint", crop=32, params={"fill": "smooth"})[0]
    mask = item["mask"]
    assert mask.shape == (1, 32, 32) and mask.dtype == torch.float32
    holes = mask[0] > 0
    assert 0 < int(holes.sum()) < 32 * 32
    # outside the holes the input is the clean image; inside it was filled
    assert torch.equal(item["lq"][:, ~holes], item["gt"][:, ~holes])
    assert not torch.equal(item["lq"][:, holes], item["gt"][:, holes])
    assert "mask" not in SyntheticDataset(tmp_path, "denoise", crop=32)[0]


def test_deadleaves_bank_crops_reproducible_images_from_few_draws():
    def make(bank):
        return SyntheticDataset("deadleaves", "denoise", crop=24, length=64, deadleaves_bank=bank)

    ds, again = make(4), make(4)
    items = [ds[i]["gt"] for i in range(40)]
    assert len(ds._bank) == 4 and all(b.shape == (48, 48, 3) for b in ds._bank.values())
    # reproducible whichever items filled the bank (another process, a resumed run)
    assert all(torch.equal(again[i]["gt"], items[i]) for i in reversed(range(40)))
    # every item is a crop of one of the bank's images (possibly flipped or rotated)
    for item in items[:8]:
        img = item.permute(1, 2, 0).numpy()
        views = [np.rot90(img, k) for k in range(4)]
        views += [v[:, ::-1] for v in views]
        assert any(
            np.allclose(v, big[y : y + 24, x : x + 24])
            for big in ds._bank.values()
            for v in views
            for y in range(25)
            for x in range(25)
        )
    # without a bank: a new image per item, same stream as before banks existed
    plain = make(0)
    assert plain._bank == {} and not torch.equal(plain[0]["gt"], plain[1]["gt"])


def test_gray_fraction_makes_gray_pairs():
    from irsde.degrade import is_gray

    def items(fraction):
        ds = SyntheticDataset("deadleaves", "denoise", crop=16, length=24, gray_fraction=fraction)
        return [ds[i] for i in range(len(ds))]

    for it in items(1.0):  # gray clean image and gray noise (one field for all channels)
        gt, lq = it["gt"].permute(1, 2, 0).numpy(), it["lq"].permute(1, 2, 0).numpy()
        assert is_gray(gt) and is_gray(lq) and not np.array_equal(gt, lq)
    some = [is_gray(it["gt"].permute(1, 2, 0).numpy()) for it in items(0.5)]
    assert 0 < sum(some) < len(some)
    with pytest.raises(ConfigError, match="gray_fraction"):
        SyntheticDataset("deadleaves", "denoise", crop=16, length=4, gray_fraction=1.5)


def test_several_tasks_draw_one_per_item_with_their_own_params():
    ds = SyntheticDataset(
        "deadleaves", ["derain", "dehaze"], crop=16, length=40, params={"dehaze": {"beta": 2.0}}
    )
    items = [ds[i] for i in range(len(ds))]
    assert {it["task"] for it in items} == {"derain", "dehaze"}
    assert all(not torch.equal(it["gt"], it["lq"]) for it in items)
    with pytest.raises(ConfigError, match="keyed by task name"):
        SyntheticDataset("deadleaves", ["derain", "dehaze"], crop=16, length=4, params={"beta": 1})
    with pytest.raises(ConfigError, match=r"unknown degradation parameter.*dehaze: sigma"):
        SyntheticDataset(
            "deadleaves", ["derain", "dehaze"], crop=16, length=4, params={"dehaze": {"sigma": 1}}
        )


def test_small_images_are_padded(tmp_path):
    write_image(tmp_path / "small.png", textured(10, 12, 0))
    item = SyntheticDataset(tmp_path, "deblur", crop=16)[0]
    assert item["gt"].shape == item["lq"].shape == (3, 16, 16)


def test_bad_files_skipped_and_all_bad_is_config_error(tmp_path, caplog):
    write_image(tmp_path / "good.png", textured(20, 20, 0))
    (tmp_path / "bad.png").write_bytes(b"not an image")
    ds = SyntheticDataset(tmp_path, "denoise", crop=16, length=4)
    with caplog.at_level(logging.WARNING):
        names = [ds[i]["name"] for i in range(4)]
    assert names == ["good"] * 4
    assert caplog.text.count("bad.png") == 1
    (tmp_path / "good.png").write_bytes(b"broken too")
    with pytest.raises(ConfigError, match="no usable images"):
        SyntheticDataset(tmp_path, "denoise", crop=16, length=4)[1]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no images"):
        SyntheticDataset(tmp_path / "empty", "denoise")


def test_synthetic_deadleaves_and_mixing(tmp_path):
    ds = SyntheticDataset("deadleaves", "sr4", crop=32, length=3)
    item = ds[0]
    assert item["gt"].shape == item["lq"].shape == (3, 32, 32)
    assert item["name"] == "deadleaves_000000"
    write_image(tmp_path / "a.png", textured(40, 40, 0))
    mixed = SyntheticDataset([tmp_path, "deadleaves"], "dehaze", crop=16, length=40)
    names = [mixed[i]["name"] for i in range(40)]
    n_dl = sum(n.startswith("deadleaves") for n in names)
    assert 8 < n_dl < 32
    with pytest.raises(ConfigError, match="length"):
        SyntheticDataset("deadleaves", "denoise")
    with pytest.raises(ConfigError, match="multiple"):
        SyntheticDataset("deadleaves", "sr4", crop=30, length=2)
    with pytest.raises(ConfigError, match="sigmaa"):
        SyntheticDataset("deadleaves", "denoise", length=2, params={"sigmaa": 1})


def test_seeding_independent_of_order_and_workers(tmp_path):
    for i in range(4):
        write_image(tmp_path / f"{i}.png", textured(24, 24, i))
    ds = SyntheticDataset(tmp_path, "derain", crop=16, length=6, seed=5)
    forward = [ds[i] for i in range(6)]
    backward = [ds[i] for i in reversed(range(6))][::-1]
    loader = DataLoader(ds, batch_size=2, num_workers=2, shuffle=False)
    batched = [b for batch in loader for b in zip(batch["gt"], batch["lq"], strict=True)]
    for a, b, (gt, lq) in zip(forward, backward, batched, strict=True):
        assert torch.equal(a["gt"], b["gt"]) and torch.equal(a["lq"], b["lq"])
        assert torch.equal(a["gt"], gt) and torch.equal(a["lq"], lq)
    ds.set_epoch(1)
    assert not torch.equal(ds[0]["lq"], forward[0]["lq"])
    ds.set_epoch(0)
    assert torch.equal(ds[0]["lq"], forward[0]["lq"])
    other_seed = SyntheticDataset(tmp_path, "derain", crop=16, length=6, seed=6)
    assert not torch.equal(other_seed[0]["lq"], forward[0]["lq"])


def test_validation_dataset_synthetic_is_fixed(tmp_path):
    write_image(tmp_path / "a.png", dead_leaves((30, 42), rng()))
    val = ValidationDataset(tmp_path, task="sr4")
    item = val[0]
    assert item["gt"].shape == item["lq"].shape == (3, 28, 40)
    centre = ValidationDataset(tmp_path, task="denoise", crop=16)
    assert torch.equal(centre[0]["lq"], centre[0]["lq"]) and centre[0]["gt"].shape == (3, 16, 16)
