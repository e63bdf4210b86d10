"""Restorer and ``irsde restore``: tiling without seams, tasks, samples, files, sharding."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from irsde.cli import main
from irsde.errors import ModelLoadError, UsageError
from irsde.io import load_image, save_image, to_uint8, to_uint16
from irsde.restore import Restorer, TiledNet, dihedral, tile_starts, undo_dihedral

SDE = {"max_sigma": 10, "T": 20, "schedule": "cosine", "eps": 0.005}
RNG = np.random.default_rng(0)


class LocalNet(nn.Module):
    """A 'network' with a 3x3 receptive field (radius 1), scaled to stay tame."""

    def __init__(self, config: dict | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(6, 3, 3, padding=1)
        self.irsde_config = config if config is not None else {"sde": dict(SDE), "task": None}

    def forward(self, x, mu, t):
        return 0.05 * self.conv(torch.cat([x, mu], 1))


class WideNet(nn.Module):
    """Six stacked 3x3 convolutions: receptive-field radius 6, wider than the tile margin."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        chans = [6, 8, 8, 8, 8, 8, 3]
        self.convs = nn.ModuleList(
            nn.Conv2d(a, b, 3, padding=1) for a, b in itertools.pairwise(chans)
        )
        self.irsde_config = {"sde": dict(SDE)}

    def forward(self, x, mu, t):
        h = torch.cat([x, mu], 1)
        for i, c in enumerate(self.convs):
            h = c(h if i == 0 else torch.relu(h))
        return h


def smooth_image(h: int = 40, w: int = 52) -> np.ndarray:
    y, x = np.mgrid[0 : 1 : complex(h), 0 : 1 : complex(w)]
    return np.stack([x, y, 0.5 + 0.4 * np.sin(6 * x * y)], -1).astype(np.float32)


# ---------------------------------------------------------------------------- tiling
def test_tile_starts_cover_with_equal_tiles():
    for length, tile, overlap in [(100, 32, 8), (64, 32, 8), (33, 32, 8), (20, 32, 8)]:
        starts = tile_starts(length, tile, overlap)
        size = min(tile, length)
        assert starts[0] == 0 and starts[-1] + size == length
        assert all(b - a <= size - overlap for a, b in itertools.pairwise(starts))


def test_tiled_equals_untiled_for_a_local_network():
    """Measured: max |tiled - untiled| ~3e-7 (float32 rounding) for a 3x3 network."""
    net, img = LocalNet(), smooth_image()
    full = Restorer(net, steps=4, tile=None, device="cpu").restore(img)
    tiled = Restorer(net, steps=4, tile=16, overlap=8, device="cpu", tile_batch=4)
    out = tiled.restore(img)
    n_tiles = len(tiled.tiler.grid(40, 52))
    assert n_tiles == 24 and tiled.tiler.calls == 4 * 6  # 4 steps x 6 batches of 4 tiles
    assert Restorer(net, steps=4, tile=16, overlap=8, device="cpu").tiler.batch == 1  # CPU
    assert np.abs(out - full).max() < 1e-5


def test_tiled_noise_close_and_seamless_for_a_wide_receptive_field():
    """Measured (tile 32, overlap 16): max error 1.1e-4 on outputs of scale 0.085 (0.13 %);
    hard tile borders (no overlap) give 2.6e-2."""
    net = WideNet().eval()
    x = torch.from_numpy(smooth_image(64, 80).transpose(2, 0, 1))[None]
    t = torch.tensor([5])

    def error(tile_net: TiledNet) -> tuple[float, float]:
        with torch.no_grad():
            err = tile_net(x, x, t) - net(x, x, t)
        jump = max(err.diff(dim=-1).abs().max().item(), err.diff(dim=-2).abs().max().item())
        return err.abs().max().item(), jump

    with torch.no_grad():
        scale = net(x, x, t).abs().max().item()
    blended_err, blended_jump = error(TiledNet(net, 32, 16))
    _, hard_jump = error(TiledNet(net, 32, 0))
    assert blended_err < 0.005 * scale
    assert blended_jump < 0.005 * scale  # no visible step along tile borders
    assert hard_jump > 10 * blended_jump  # the check can see a seam when there is one


def test_tiles_are_batched_and_noise_independent_of_batching():
    net, img = LocalNet(), smooth_image()
    other = img[::-1].copy()
    r = Restorer(net, steps=3, tile=None, device="cpu")
    alone = r.restore_rgb([img])[0][0]
    together = r.restore_rgb([other, img])[1][0]
    np.testing.assert_allclose(alone, together, atol=1e-6)


# ---------------------------------------------------------------------------- kinds, tasks
def test_restore_returns_the_kind_it_gets():
    r = Restorer(LocalNet(), steps=2, tile=None, device="cpu")
    u8 = (smooth_image(16, 20) * 255).astype(np.uint8)
    assert r.restore(u8).dtype == np.uint8 and r.restore(u8).shape == (16, 20, 3)
    u16 = (smooth_image(16, 20) * 65535).astype(np.uint16)
    assert r.restore(u16).dtype == np.uint16
    assert r.restore(u8[..., 0]).shape == (16, 20)
    rgba = np.concatenate([u8, RNG.integers(0, 256, (16, 20, 1), dtype=np.uint8)], 2)
    np.testing.assert_array_equal(r.restore(rgba)[..., 3], rgba[..., 3])
    pil = r.restore(Image.fromarray(u8))
    assert isinstance(pil, Image.Image) and pil.size == (20, 16)
    t = torch.from_numpy(smooth_image(16, 20).transpose(2, 0, 1))
    assert r.restore(t).shape == t.shape and r.restore(t[None]).shape == (1, 3, 16, 20)


def test_reference_model_without_sde_uses_reference_defaults():
    r = Restorer(LocalNet({"sde": None, "task": None}), steps=2, device="cpu")
    assert r.sde.config() == {"max_sigma": 10.0, "T": 100, "schedule": "cosine", "eps": 0.005}
    assert "assumed max_sigma=10.0, T=100" in r.sde_note
    r = Restorer(LocalNet({"sde": None}), steps=2, device="cpu", task="sr4", sde={"T": 50})
    assert r.sde.max_sigma == 30 and r.sde.T == 50 and "sr4" in r.sde_note
    assert Restorer(LocalNet(), device="cpu").sde_note is None


def test_sr4_output_is_four_times_the_input():
    r = Restorer(LocalNet(), steps=2, device="cpu", task="sr4")
    assert r.restore(smooth_image(8, 10)).shape == (32, 40, 3)


def test_inpaint_keeps_known_pixels_exactly():
    img = (smooth_image(16, 20) * 255).astype(np.uint8)
    mask = np.zeros((16, 20), dtype=np.uint8)
    mask[4:9, 6:12] = 255
    out = Restorer(LocalNet(), steps=3, device="cpu", task="inpaint").restore(img, mask)
    known = mask == 0
    np.testing.assert_array_equal(out[known], img[known])
    assert not np.array_equal(out[~known], img[~known])


def test_inpaint_model_trained_on_smooth_fills_gets_smooth_fills():
    from irsde.degrade import smooth_fill

    seen = []

    class Recorder(LocalNet):
        def forward(self, x, mu, t):
            seen.append(mu.clone())
            return super().forward(x, mu, t)

    img = smooth_image(16, 20)
    mask = np.zeros((16, 20), dtype=bool)
    mask[4:9, 6:12] = True
    net = Recorder({"sde": dict(SDE), "task": "inpaint", "task_params": {"fill": "smooth"}})
    out = Restorer(net, steps=2, device="cpu").restore_rgb([img], [mask])[0][0]
    want = torch.from_numpy(smooth_fill(img, mask)).permute(2, 0, 1)[None]
    torch.testing.assert_close(seen[0], want)
    np.testing.assert_array_equal(out[~mask], img[~mask])
    net.irsde_config["task_params"] = {"fill": "sideways"}
    with pytest.raises(ModelLoadError, match="fill"):
        Restorer(net, steps=2, device="cpu").restore_rgb([img], [mask])


def test_samples_give_mean_and_std():
    r = Restorer(LocalNet(), steps=3, device="cpu", samples=3)
    ((res, std),) = r.restore_rgb([smooth_image(16, 20)])
    assert res.shape == (16, 20, 3) and std.shape == (16, 20) and std.max() > 0


def test_dihedral_views_are_distinct_and_invertible():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    views = [dihedral(x, k) for k in range(8)]
    assert len({tuple(v.flatten().tolist()) + tuple(v.shape) for v in views}) == 8
    for k, v in enumerate(views):
        assert torch.equal(undo_dihedral(v, k), x)


class X0Net(nn.Module):
    """Predicts the clean image ``f(mu)`` (returned as the equivalent noise), so that the
    1-step posterior sampler, whose last state is its x0 estimate, outputs ``f(mu)``."""

    def __init__(self, f, ensemble: int | None = None) -> None:
        super().__init__()
        from irsde import IRSDE

        self.f, self.sde = f, IRSDE(**SDE)
        self.irsde_config = {"sde": dict(SDE), "sampler": {"ensemble": ensemble or 1}}

    def forward(self, x, mu, t):
        return self.sde.noise_from_x0(x, self.f(mu), mu, t)


def by_row(mu):  # not flip-equivariant: depends on each pixel's row
    return mu + torch.linspace(0, 1, mu.shape[-2]).view(1, 1, -1, 1)


ONE_STEP = {"sampler": "posterior", "steps": 1, "device": "cpu"}


def test_ensemble_averages_the_views_mapped_back():
    mu = torch.from_numpy(smooth_image(12, 16)).permute(2, 0, 1)[None]
    plain, _ = Restorer(X0Net(by_row), ensemble=1, **ONE_STEP).run(mu)
    torch.testing.assert_close(plain, by_row(mu), atol=1e-4, rtol=0)
    want = torch.stack([undo_dihedral(by_row(dihedral(mu, k)), k) for k in range(4)]).mean(0)
    r = Restorer(X0Net(by_row, ensemble=4), **ONE_STEP)  # the model's recommendation
    assert r.ensemble == 4
    got, std = r.run(mu)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=0)
    assert std is None and (got - plain).abs().max() > 0.1


def test_ensemble_of_an_equivariant_net_changes_nothing():
    mu = torch.from_numpy(smooth_image(12, 16)).permute(2, 0, 1)[None]
    square = X0Net(lambda m: m.square())
    one, _ = Restorer(square, ensemble=1, **ONE_STEP).run(mu)
    eight, _ = Restorer(square, ensemble=8, **ONE_STEP).run(mu)
    torch.testing.assert_close(one, eight, atol=1e-4, rtol=0)
    with pytest.raises(UsageError, match="ensemble"):
        Restorer(square, ensemble=3, **ONE_STEP)


def test_ensemble_views_reach_the_sampler_as_contiguous_tensors():
    seen = []

    def record(m):
        seen.append(m.is_contiguous())
        return m

    mu = torch.from_numpy(smooth_image(12, 16)).permute(2, 0, 1)[None].contiguous()
    Restorer(X0Net(record), ensemble=8, **ONE_STEP).run(mu)
    assert len(seen) == 8 and all(seen)  # views 4-7 are transposes: copied, not strided


def test_bf16_autocast_on_cpu_is_close_to_full_precision():
    img = smooth_image(16, 20)
    settings = {"steps": 2, "device": "cpu", "sampler": "ode"}
    full = Restorer(LocalNet(), **settings).restore_rgb([img])[0][0]
    r = Restorer(LocalNet(), amp="bf16", **settings)
    half = r.restore_rgb([img])[0][0]
    assert half.dtype == np.float32
    assert 0 < np.abs(half - full).max() < 0.02  # bf16 really ran, and stayed close
    # oneDNN's bf16 kernels want channels-last: weights and tiles are converted
    conv = next(m for m in r.net.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) and r.tiler.channels_last
    assert not Restorer(LocalNet(), **settings).tiler.channels_last
    with pytest.raises(UsageError, match="bf16"):
        Restorer(LocalNet(), amp="fp16", **settings)


# ---------------------------------------------------------------------------- command line
@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    models = pytest.importorskip("irsde.models")
    from irsde.nets import build_network

    torch.manual_seed(0)
    net = build_network("ConditionalNAFNet", width=4, enc_blocks=[1], dec_blocks=[1])
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    models.save_model(net, path, sde=dict(SDE))
    ref = path.with_name("ref.pth")
    torch.save(net.state_dict(), ref)
    return path


def make_inputs(folder, n: int = 3, size=(12, 16)) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(n):
        img = RNG.integers(0, 256, (*size, 3), dtype=np.uint8)
        names.append(save_image(folder / f"im{i}.png", img).name)
    return names


def restore_cli(model, *args) -> int:
    return main(["restore", *map(str, args), "--model", str(model), "--steps", "2", "--tile", "0"])


def test_cli_restores_and_keeps_formats(tmp_path, model_file, capsys):
    src = tmp_path / "in"
    src.mkdir()
    save_image(src / "deep.png", RNG.integers(0, 65536, (12, 16, 3), dtype=np.uint16))
    save_image(src / "gray.jpg", RNG.integers(0, 256, (12, 16), dtype=np.uint8))
    save_image(src / "alpha.png", RNG.integers(0, 256, (12, 16, 4), dtype=np.uint8))
    assert restore_cli(model_file, src, "-o", tmp_path / "out") == 0
    assert load_image(tmp_path / "out/deep.png").bit_depth == 16
    assert load_image(tmp_path / "out/gray.jpg").gray
    alpha = load_image(tmp_path / "out/alpha.png").alpha
    np.testing.assert_array_equal(alpha, load_image(src / "alpha.png").alpha)
    assert "restored 3, skipped 0, failed 0" in capsys.readouterr().out


def test_cli_bad_inputs_reported_and_batch_continues(tmp_path, model_file, capsys):
    from test_io import bad_inputs

    src = tmp_path / "in"
    src.mkdir()
    bad = bad_inputs(src)
    del bad["missing.png"]
    (src / "full.jpg").unlink()
    make_inputs(src, 2)
    rc = restore_cli(model_file, src, tmp_path / "nothere.png", "-o", tmp_path / "out")
    err = capsys.readouterr().err
    assert rc == 1
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    for name in [*bad, "nothere.png"]:
        assert sum(name in ln for ln in lines) == 1, (name, err)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "full.png",
        "im0.png",
        "im1.png",
    ]


def test_cli_does_not_overwrite_unless_asked(tmp_path, model_file, capsys):
    make_inputs(tmp_path / "in", 1)
    out = tmp_path / "out"
    assert restore_cli(model_file, tmp_path / "in", "-o", out) == 0
    save_image(out / "im0.png", np.zeros((12, 16, 3), np.uint8), overwrite=True)
    assert restore_cli(model_file, tmp_path / "in", "-o", out) == 0
    assert "skipped" in capsys.readouterr().err
    assert to_uint8(load_image(out / "im0.png").pixels).max() == 0
    assert restore_cli(model_file, tmp_path / "in", "-o", out, "--overwrite") == 0
    assert to_uint8(load_image(out / "im0.png").pixels).max() > 0


def test_cli_shards_inputs_across_ranks(tmp_path, model_file, monkeypatch):
    names = make_inputs(tmp_path / "in", 5)
    out = tmp_path / "out"
    written = []
    for rank in (0, 1):
        monkeypatch.setenv("WORLD_SIZE", "2")
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("LOCAL_RANK", str(rank))
        before = set(out.iterdir()) if out.exists() else set()
        assert restore_cli(model_file, tmp_path / "in", "-o", out) == 0
        written.append({p.name for p in set(out.iterdir()) - before})
    assert written[0] and written[1] and not written[0] & written[1]
    assert sorted(written[0] | written[1]) == sorted(names)


def test_cli_samples_write_std_map(tmp_path, model_file):
    make_inputs(tmp_path / "in", 1)
    rc = restore_cli(model_file, tmp_path / "in", "-o", tmp_path / "out", "--samples", "3")
    assert rc == 0
    std = load_image(tmp_path / "out/im0_std.png")
    assert std.pixels.shape == (12, 16, 3)


def test_cli_ensemble_changes_the_result_and_rejects_bad_sizes(tmp_path, model_file, capsys):
    make_inputs(tmp_path / "in", 1)
    assert restore_cli(model_file, tmp_path / "in", "-o", tmp_path / "one") == 0
    assert restore_cli(model_file, tmp_path / "in", "-o", tmp_path / "four", "--ensemble", "4") == 0
    one, four = (load_image(tmp_path / d / "im0.png").pixels for d in ("one", "four"))
    assert one.shape == four.shape and not np.array_equal(one, four)
    with pytest.raises(SystemExit):
        restore_cli(model_file, tmp_path / "in", "-o", tmp_path / "bad", "--ensemble", "3")
    assert "--ensemble" in capsys.readouterr().err


def test_cli_sr4_is_four_times_larger(tmp_path, model_file):
    make_inputs(tmp_path / "in", 1, size=(6, 8))
    assert restore_cli(model_file, tmp_path / "in", "-o", tmp_path / "out", "--task", "sr4") == 0
    assert load_image(tmp_path / "out/im0.png").pixels.shape == (24, 32, 3)


def test_cli_inpaint_with_mask_keeps_known_pixels(tmp_path, model_file):
    make_inputs(tmp_path / "in", 1)
    mask = np.zeros((12, 16), np.uint8)
    mask[3:7, 4:10] = 255
    save_image(tmp_path / "mask.png", mask)
    args = ["-o", tmp_path / "out", "--task", "inpaint", "--mask", tmp_path / "mask.png"]
    assert restore_cli(model_file, tmp_path / "in", *args) == 0
    src = to_uint8(load_image(tmp_path / "in/im0.png").pixels)
    out = to_uint8(load_image(tmp_path / "out/im0.png").pixels)
    np.testing.assert_array_equal(out[mask == 0], src[mask == 0])


def test_cli_reference_pth_says_which_settings_were_assumed(tmp_path, model_file, capsys):
    make_inputs(tmp_path / "in", 1)
    rc = main(
        [
            "restore",
            str(tmp_path / "in"),
            "-o",
            str(tmp_path / "out"),
            "--steps",
            "2",
            "--model",
            str(model_file.with_name("ref.pth")),
            "--task",
            "derain",
        ]
    )
    assert rc == 0
    assert "assumed max_sigma=10.0, T=100, schedule=cosine, eps=0.005" in capsys.readouterr().err


def test_cli_task_uses_the_embedded_model(tmp_path, capsys):
    make_inputs(tmp_path / "in", 1)
    out = tmp_path / "out"
    assert main(["restore", str(tmp_path / "in"), "-o", str(out), "--task", "derain"]) == 0
    assert len(list(out.iterdir())) == 1


def test_cli_task_without_embedded_model_needs_model(tmp_path, capsys, monkeypatch):
    import irsde.weights

    monkeypatch.setattr(irsde.weights, "WEIGHTS_DIR", tmp_path / "empty")
    (tmp_path / "empty").mkdir()
    make_inputs(tmp_path / "in", 1)
    assert (
        main(["restore", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--task", "derain"])
        == 2
    )
    assert "--model" in capsys.readouterr().err


def test_large_image_tiled_in_cli(tmp_path, model_file):
    make_inputs(tmp_path / "in", 1, size=(40, 70))
    args = [
        "restore",
        str(tmp_path / "in"),
        "-o",
        str(tmp_path / "out"),
        "--model",
        str(model_file),
        "--steps",
        "2",
        "--tile",
        "32",
        "--overlap",
        "8",
    ]
    assert main(args) == 0
    assert to_uint16(load_image(tmp_path / "out/im0.png").pixels).shape == (40, 70, 3)
