"""``mode="faithful" | "realistic"``: Restorer, stored settings, ``irsde restore --mode``."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from torch import nn

from irsde.cli import main
from irsde.errors import UsageError
from irsde.io import save_image
from irsde.modelconfig import ModelConfig
from irsde.restore import Restorer
from irsde.samplers import MODES, REALISTIC_DEFAULT, SAMPLERS, realistic_setting
from irsde.sde import SPACINGS

SDE = {"max_sigma": 10, "T": 20, "schedule": "cosine", "eps": 0.005}


class Net(nn.Module):
    """A tame 3x3 'network' carrying a config."""

    def __init__(self, sampler: dict | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(6, 3, 3, padding=1)
        self.irsde_config = {"sde": dict(SDE), "task": None, "sampler": sampler}

    def forward(self, x, mu, t):
        return 0.05 * self.conv(torch.cat([x, mu], 1))


FAITHFUL = {"name": "posterior", "steps": 1, "spacing": "uniform", "ensemble": 4}


def test_the_realistic_default_is_a_registered_setting():
    assert MODES == ("faithful", "realistic")
    assert REALISTIC_DEFAULT["name"] in SAMPLERS and REALISTIC_DEFAULT["spacing"] in SPACINGS
    with pytest.raises(TypeError):
        REALISTIC_DEFAULT["steps"] = 1  # read-only: no global mutable state


def test_faithful_is_the_stored_setting_and_realistic_the_default_sample():
    faithful = Restorer(Net(FAITHFUL), sampler=None, device="cpu")
    assert faithful.mode == "faithful"
    assert (faithful.sampler, faithful.steps, faithful.ensemble) == ("posterior", 1, 4)
    real = Restorer(Net(FAITHFUL), mode="realistic", device="cpu")
    assert (real.sampler, real.steps, real.spacing, real.ensemble) == ("unipc", 5, "tuned", 1)
    assert real.timesteps == real.sde.timesteps(5, "tuned")


def test_a_model_stores_its_own_realistic_setting():
    stored = {**FAITHFUL, "realistic": {"steps": 8, "name": "dpm2m"}}
    r = Restorer(Net(stored), mode="realistic", device="cpu")
    assert (r.sampler, r.steps, r.spacing) == ("dpm2m", 8, "tuned")
    assert realistic_setting(stored) == {"name": "dpm2m", "steps": 8, "spacing": "tuned"}
    # explicit steps override the stored steps and keep the realistic spacing
    r = Restorer(Net(stored), mode="realistic", steps=4, device="cpu")
    assert (r.sampler, r.steps, r.spacing) == ("dpm2m", 4, "tuned")
    r = Restorer(Net(stored), mode="realistic", sampler="ddim", ensemble=2, device="cpu")
    assert (r.sampler, r.ensemble) == ("ddim", 2)


def test_unknown_mode_is_a_one_line_usage_error():
    with pytest.raises(UsageError, match="unknown mode 'vivid'; choose one of faithful, realistic"):
        Restorer(Net(), mode="vivid", device="cpu")


def test_samples_work_in_both_modes():
    img = np.random.default_rng(0).random((12, 16, 3)).astype(np.float32)
    for mode in MODES:
        r = Restorer(Net(FAITHFUL), mode=mode, samples=3, ensemble=1, tile=None, device="cpu")
        ((out, std),) = r.restore_rgb([img])
        assert out.shape == img.shape and std is not None and std.shape == img.shape[:2]
        if mode == "realistic":
            assert std.max() > 0  # a sample differs from the next


def _config(sampler: dict) -> ModelConfig:
    return ModelConfig(arch="ConditionalNAFNet", arch_params={"width": 4}, sampler=sampler)


def test_model_config_validates_and_keeps_the_realistic_entry():
    cfg = _config({**FAITHFUL, "realistic": {"steps": 5}})
    assert cfg["sampler"]["realistic"] == {"steps": 5}
    back = ModelConfig.from_metadata(cfg.to_metadata(), "m.safetensors")
    assert back["sampler"]["realistic"] == {"steps": 5}
    assert "realistic" not in _config(dict(FAITHFUL))["sampler"]
    for bad, msg in (
        ({"name": "bogus"}, "unknown sampler 'bogus'"),
        ({"spacing": "cubic"}, "unknown spacing 'cubic'"),
        ({"steps": 0}, "steps must be a positive integer"),
        ({"ensemble": 2}, "unknown realistic sampler settings: ensemble"),
    ):
        with pytest.raises(ValueError, match=msg):
            _config({**FAITHFUL, "realistic": bad})


def test_cli_mode_switch(tmp_path, caplog):
    from irsde.models import save_model
    from irsde.nets import build_network

    torch.manual_seed(0)
    net = build_network("ConditionalNAFNet", width=4, enc_blocks=[1], dec_blocks=[1])
    model = save_model(net, tmp_path / "m.safetensors", sde=dict(SDE), sampler=dict(FAITHFUL))
    save_image(tmp_path / "in/a.png", np.full((12, 16, 3), 128, np.uint8))
    caplog.set_level(logging.INFO, logger="irsde")
    base = ["restore", str(tmp_path / "in"), "--model", str(model), "--tile", "0"]
    assert main([*base, "-o", str(tmp_path / "real"), "--mode", "realistic"]) == 0
    assert "unipc sampler, 5 steps (tuned)" in caplog.text
    caplog.clear()
    assert main([*base, "-o", str(tmp_path / "faith")]) == 0
    assert "posterior sampler, 1 steps" in caplog.text
    assert (tmp_path / "real/a.png").is_file() and (tmp_path / "faith/a.png").is_file()
    with pytest.raises(SystemExit):
        main([*base, "-o", str(tmp_path / "x"), "--mode", "vivid"])


def test_bench_labels_one_nfe_as_the_posterior_mean_estimate():
    from irsde.apps.bench import POSTERIOR_MEAN, default_label, format_curves, nfe_label

    assert nfe_label(1) == "1 (posterior-mean estimate)" and nfe_label(5) == "5"
    assert default_label({"sampler": "posterior", "steps": 1, "ensemble": 8}) == (
        "posterior 1 (posterior-mean estimate) x8"
    )
    rows = [
        {"sampler": "posterior", "spacing": "uniform", "nfe": n, "psnr_y": 30.0 - n / 100}
        for n in (1, 5)
    ]
    text = format_curves({"tasks": {"denoise": {"nfe_curves": {"rows": rows}}}})
    assert f"| 1 ({POSTERIOR_MEAN}) | 5 |" in text and "no speedup at sampling" in text
