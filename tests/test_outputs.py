"""Outputs never replace an input of the same run, and get the permissions of a plain open()."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
import torch

from irsde.cli import main
from irsde.io import load_image, save_image

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


def _errors(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if "error:" in ln]


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_an_input_named_like_another_ones_std_map_is_refused(
    tmp_path, model_file, capsys, overwrite
):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    photo(src / "x.png"), photo(src / "x_std.png")
    assert restore(model_file, src, "-o", out, "--samples", "2", *overwrite) == 1
    (line,) = _errors(capsys.readouterr().err)
    assert "x_std.png" in line and "also written for" in line
    assert sorted(p.name for p in out.iterdir()) == ["x.png", "x_std.png"]
    assert load_image(out / "x_std.png").width == 10  # x.png's std map, not x_std restored


def test_two_inputs_sharing_a_std_map_restore_one_and_refuse_the_other(
    tmp_path, model_file, capsys
):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    photo(src / "a.png")
    save_image(src / "a.jpg", RNG.integers(0, 256, (8, 10, 3), dtype=np.uint8))
    assert restore(model_file, src, "-o", out, "--samples", "2") == 1
    (line,) = _errors(capsys.readouterr().err)
    assert line.count("a.") >= 2 and "a_std.png" in line
    assert sorted(p.name for p in out.iterdir()) == ["a.jpg", "a_std.png"]


def test_a_mask_folder_without_an_images_mask_fails_that_image(tmp_path, model_file, capsys):
    src, masks, out = tmp_path / "in", tmp_path / "masks", tmp_path / "out"
    src.mkdir(), masks.mkdir()
    photo(src / "a.png"), photo(src / "b.png")
    save_image(masks / "a.png", np.zeros((8, 10), np.uint8))
    assert restore(model_file, src, "-o", out, "--mask", masks, "--task", "inpaint") == 1
    captured = capsys.readouterr()
    (line,) = _errors(captured.err)
    assert "b.png" in line and "no mask b.*" in line
    assert "restored 1," in captured.out and "failed 1" in captured.out
    assert sorted(p.name for p in out.iterdir()) == ["a.png"]


def test_degrade_save_mask_keeps_an_existing_mask(tmp_path, capsys):
    photo(tmp_path / "c.png")
    out = tmp_path / "out"
    (out / "masks").mkdir(parents=True)
    mine = photo(out / "masks" / "c.png")
    args = ["degrade", str(tmp_path / "c.png"), "-o", str(out), "--task", "inpaint", "--save-mask"]
    assert main(args) == 0
    assert "skipped" in capsys.readouterr().err
    assert (out / "masks" / "c.png").read_bytes() == mine and not (out / "c.png").exists()
    assert main([*args, "--overwrite"]) == 0
    assert (out / "masks" / "c.png").read_bytes() != mine and (out / "c.png").exists()


def test_an_oversized_result_fails_that_item_and_the_next_is_restored(tmp_path, model_file, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    photo(src / "a.png")
    save_image(src / "big.png", np.zeros((30, 30, 3), np.uint8))
    assert restore(model_file, src, "-o", out, "--max-output-pixels", "500") == 1
    (line,) = _errors(capsys.readouterr().err)
    assert "big.png" in line and "30x30" in line and "500" in line and "--max-output-pixels" in line
    assert sorted(p.name for p in out.iterdir()) == ["a.png"]


def test_sr4_counts_the_upscaled_result_against_the_default_limit(
    tmp_path, model_file, monkeypatch
):
    from irsde.errors import InputError
    from irsde.restore import Restorer

    monkeypatch.setenv("IRSDE_MAX_PIXELS", "1000")
    r = Restorer(model_file, steps=1, tile=None, device="cpu", task="sr4")
    assert r.max_output_pixels == 1000
    with pytest.raises(InputError, match=r"40x32.*over the limit of 1,000"):
        r.restore(np.zeros((8, 10, 3), np.uint8))


def test_out_of_memory_on_one_item_is_its_error_and_the_rest_go_on(
    tmp_path, model_file, capsys, monkeypatch
):
    from irsde.restore import Restorer

    real = Restorer.restore_rgb

    def flaky(self, images, masks=None, callback=None):
        if images[0].shape[0] == 12:
            raise RuntimeError("DefaultCPUAllocator: not enough memory: you tried to allocate 9 GB")
        return real(self, images, masks, callback)

    monkeypatch.setattr(Restorer, "restore_rgb", flaky)
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    photo(src / "a.png")
    save_image(src / "b.png", np.zeros((12, 12, 3), np.uint8))
    assert restore(model_file, src, "-o", out) == 1
    (line,) = _errors(capsys.readouterr().err)
    assert "b.png: out of memory" in line and "--tile" in line
    assert sorted(p.name for p in out.iterdir()) == ["a.png"]


@pytest.mark.parametrize(
    ("flags", "says"),
    [(["--tile", "1", "--overlap", "0"], "at least 16"), (["--spacing", "bogus"], "bogus")],
)
def test_useless_tiles_and_unknown_spacings_are_usage_errors(
    tmp_path, model_file, capsys, flags, says
):
    photo(tmp_path / "a.png")
    args = [
        "restore",
        str(tmp_path / "a.png"),
        "-o",
        str(tmp_path / "o"),
        "--model",
        str(model_file),
    ]
    try:
        rc = main([*args, *flags])
    except SystemExit as exc:  # argparse's usage errors
        rc = exc.code
    assert rc == 2
    assert says in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_degrade_never_writes_over_an_input_even_with_overwrite(tmp_path, capsys):
    mine = photo(tmp_path / "c.png")
    args = ["degrade", str(tmp_path / "c.png"), "-o", str(tmp_path), "--task", "denoise"]
    assert main([*args, "--overwrite"]) == 1
    assert "is an input of this run" in capsys.readouterr().err
    assert (tmp_path / "c.png").read_bytes() == mine
