"""``irsde eval`` and LPIPS: known values, inf PSNR, reports, bad and unmatched files."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch

from irsde.cli import main
from irsde.io import load_image, save_image
from irsde.metrics import LPIPSAlex, lpips

RNG = np.random.default_rng(0)


@pytest.fixture
def folders(tmp_path):
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    a = RNG.integers(10, 240, (24, 32, 3), dtype=np.uint8)
    b = RNG.integers(10, 240, (24, 32, 3), dtype=np.uint8)
    save_image(gt / "same.png", a)
    save_image(pred / "same.png", a)
    save_image(gt / "shift.png", b)
    save_image(pred / "shift.png", b + 5)  # MSE 25 -> PSNR 10 log10(255^2 / 25)
    return pred, gt


def test_known_values_table_and_json(folders, tmp_path, capsys):
    pred, gt = folders
    rc = main(["eval", "--pred", str(pred), "--gt", str(gt), "--json", str(tmp_path / "r.json")])
    assert rc == 0
    out = capsys.readouterr().out
    expected = 10 * math.log10(255**2 / 25)
    assert f"{expected:.2f}" in out and "inf" in out and "mean (2)" in out
    data = json.loads((tmp_path / "r.json").read_text())
    rows = {r["name"]: r for r in data["images"]}
    assert rows["same"]["psnr"] == "inf" and rows["same"]["ssim"] == pytest.approx(1.0)
    assert rows["shift"]["psnr"] == pytest.approx(expected, abs=1e-9)
    assert data["mean"]["psnr"] == pytest.approx(expected) and data["mean"]["psnr_inf_count"] == 1


def test_csv_grid_and_options(folders, tmp_path):
    pred, gt = folders
    args = ["eval", "--pred", str(pred), "--gt", str(gt), "--crop-border", "2", "--y-channel"]
    args += ["--csv", str(tmp_path / "r.csv"), "--grid", str(tmp_path / "grid")]
    assert main(args) == 0
    with open(tmp_path / "r.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == ["same", "shift"] and rows[0]["psnr"] == "inf"
    grid = load_image(tmp_path / "grid/shift.png")
    assert grid.pixels.shape == (24, 3 * 32 + 8, 3)


def test_bad_unmatched_and_mismatched_files(folders, capsys):
    pred, gt = folders
    save_image(pred / "extra.png", np.zeros((24, 32, 3), np.uint8))
    save_image(pred / "small.png", np.zeros((20, 32, 3), np.uint8))
    save_image(gt / "small.png", np.zeros((24, 32, 3), np.uint8))
    (pred / "broken.png").write_text("not an image")
    save_image(gt / "broken.png", np.zeros((24, 32, 3), np.uint8))
    assert main(["eval", "--pred", str(pred), "--gt", str(gt)]) == 1
    cap = capsys.readouterr()
    assert "extra.png: no ground truth" in cap.err
    assert "small.png: size 32x20 differs" in cap.err
    assert "broken.png: not an image" in cap.err
    assert "mean (2)" in cap.out  # the good pairs are still reported


def test_lpips_without_weights_gives_clear_message(monkeypatch, folders, capsys):
    monkeypatch.delenv("IRSDE_LPIPS_WEIGHTS", raising=False)
    a = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(FileNotFoundError, match=r"IRSDE_LPIPS_WEIGHTS.*nothing is downloaded"):
        lpips(a, a)
    pred, gt = folders
    assert main(["eval", "--pred", str(pred), "--gt", str(gt), "--lpips-weights", "nope.pth"]) == 2
    assert "nope.pth: LPIPS weights file not found" in capsys.readouterr().err


def test_lpips_runs_on_local_weights_in_lpips_layout(tmp_path):
    torch.manual_seed(0)
    state = {k: v.abs() if k.startswith("lin") else v for k, v in LPIPSAlex().state_dict().items()}
    lin = {k: v for k, v in state.items() if k.startswith("lin")}
    backbone = {}
    for k, v in state.items():  # the same trunk under torchvision's key names
        if k.startswith("net.slice"):
            backbone["features." + k.split(".", 3)[2] + "." + k.split(".", 3)[3]] = v
    torch.save(lin, tmp_path / "alex.pth")
    torch.save(backbone, tmp_path / "alexnet.pth")
    a = RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    b = RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    w, bb = str(tmp_path / "alex.pth"), str(tmp_path / "alexnet.pth")
    assert lpips(a, a, w, bb) == pytest.approx(0.0, abs=1e-7)
    assert lpips(a, b, w, bb) > 0
    with pytest.raises(ValueError, match="backbone"):
        LPIPSAlex.from_files(w)


def test_evil_lpips_weights_are_one_line(folders, tmp_path, capsys):
    import os
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps({"w": Evil()}, protocol=4))
    pred, gt = folders
    assert main(["eval", "--pred", str(pred), "--gt", str(gt), "--lpips-weights", str(evil)]) == 2
    err = capsys.readouterr().err
    assert "evil.pth" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "pwned").exists()


def test_a_gt_folder_with_two_files_of_one_name_is_refused(folders, capsys):
    pred, gt = folders
    save_image(gt / "same.jpg", RNG.integers(10, 240, (24, 32, 3), dtype=np.uint8))
    assert main(["eval", "--pred", str(pred), "--gt", str(gt)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "same.jpg" in line and "same.png" in line
