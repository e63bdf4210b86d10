"""Outputs never replace an input of the same run, and get the permissions of a plain open()."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
import torch

from irsde.cli import main
from irsde.io import save_image

SDE = {"max_sigma": 10, "T": 20, "schedule": "cosine", "eps": 0.005}
RNG = np.random.default_rng(3)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    from irsde.models import save_model
    from irsde.nets import build_network

    torch.manual_seed(0)
    net = build_network("ConditionalNAFNet", width=4, enc_blocks=[1], dec_blocks=[1])
    return save_model(net, tmp_path_factory.mktemp("model") / "tiny.safetensors", sde=SDE)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def restore(model, *args) -> int:
    return main(["restore", *map(str, args), "--model", str(model), "--steps", "1", "--tile", "0"])


def photo(path):
    save_image(path, RNG.integers(0, 256, (8, 10, 3), dtype=np.uint8))
    return path.read_bytes()


def test_overwrite_never_replaces_an_input_of_the_same_run(tmp_path, model_file, capsys):
    before = photo(tmp_path / "photo.png")
    rc = restore(model_file, tmp_path / "photo.png", "-o", tmp_path, "--overwrite")
    err = capsys.readouterr().err
    assert rc == 1
    assert (tmp_path / "photo.png").read_bytes() == before
    (line,) = [ln for ln in err.splitlines() if "error:" in ln]
    assert "photo.png" in line and "would replace an input" in line and "--suffix" in line


def test_suffix_writes_beside_the_input(tmp_path, model_file, capsys):
    before = photo(tmp_path / "photo.png")
    assert restore(model_file, tmp_path / "photo.png", "-o", tmp_path, "--suffix", "_restored") == 0
    assert (tmp_path / "photo.png").read_bytes() == before
    assert (tmp_path / "photo_restored.png").stat().st_size > 0
    assert "restored 1" in capsys.readouterr().out
    assert restore(model_file, tmp_path / "photo.png", "-o", tmp_path, "--suffix", "a/b") == 2


def test_a_hard_link_to_an_input_or_a_std_map_over_an_input_is_refused(tmp_path, model_file):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    before = photo(src / "a.png")
    os.link(src / "a.png", out / "a.png")
    assert restore(model_file, src / "a.png", "-o", out, "--overwrite") == 1
    assert (src / "a.png").read_bytes() == before
    (out / "a.png").unlink()
    # with --samples 2, a.png's std map out/a_r_std.png would replace that other input
    std_before = photo(out / "a_r_std.png")
    args = ("-o", out, "--suffix", "_r", "--samples", "2")
    assert restore(model_file, src / "a.png", out / "a_r_std.png", *args) == 1
    assert (out / "a_r_std.png").read_bytes() == std_before
    assert not (out / "a_r.png").exists() and (out / "a_r_std_r.png").exists()


def test_outputs_get_the_permissions_of_a_plain_open(tmp_path, model_file, umask_022):
    from irsde.models import load_model, save_model

    photo(tmp_path / "photo.png")
    assert restore(model_file, tmp_path / "photo.png", "-o", tmp_path / "out") == 0
    assert stat.S_IMODE((tmp_path / "out/photo.png").stat().st_mode) == 0o644
    exported = save_model(load_model(model_file), tmp_path / "m.safetensors")
    assert stat.S_IMODE(exported.stat().st_mode) == 0o644
    os.chmod(exported, 0o640)  # replacing a file keeps its mode, as open(path, "w") does
    save_model(load_model(model_file), exported)
    assert stat.S_IMODE(exported.stat().st_mode) == 0o640
    os.umask(0o077)
    save_image(tmp_path / "private.png", np.zeros((2, 2, 3), np.uint8))
    assert stat.S_IMODE((tmp_path / "private.png").stat().st_mode) == 0o600
