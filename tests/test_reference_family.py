"""The reference repository's networks load from its ``.pth`` files and reproduce its outputs.

``tests/data/reference_nafnets.safetensors`` and ``reference_unets.safetensors`` were made
by running the reference's own network code (``DenoisingNAFNet_arch.py`` and
``DenoisingUNet_arch.py`` of its deraining and denoising-sde configs, copied outside the
repository; ``tests/data/make_reference_networks.py``): small random networks with
perturbed norm gains and residual scales, and their outputs on odd image sizes at
several timesteps. Each entry ``NAME/state/KEY`` is a weight, ``NAME/caseI/{x,mu,t,out}``
an input and the reference's output (``net(x, mu, t)``, or ``net(x, t)`` unconditionally).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from irsde.errors import ModelLoadError
from irsde.models import load_model, read_model_file, save_model

DATA = Path(__file__).parent / "data"
#: fixture name -> (file, architecture, conditional)
NETWORKS = {
    "refusion": ("reference_nafnets", "RefusionNAFNet", True),
    "refusion_uncond": ("reference_nafnets", "RefusionNAFNet", False),
    "unet_uncond": ("reference_unets", "UnconditionalUNet", False),
    "unet": ("reference_unets", "ConditionalUNet", True),
}

pytestmark = pytest.mark.usefixtures("one_thread")


def fixture(name: str) -> tuple[dict[str, torch.Tensor], list[dict[str, torch.Tensor]]]:
    """The reference network ``name``'s state dict and its recorded cases."""
    entries = load_file(DATA / f"{NETWORKS[name][0]}.safetensors")
    state = {k.split("/", 2)[2]: v for k, v in entries.items() if k.startswith(f"{name}/state/")}
    cases = []
    for i in range(10):
        prefix = f"{name}/case{i}/"
        if prefix + "x" not in entries:
            break
        cases.append({f: entries[prefix + f] for f in ("x", "mu", "t", "out")})
    return state, cases


def assert_reproduces(net: torch.nn.Module, cases: list[dict[str, torch.Tensor]]) -> None:
    with torch.inference_mode():
        for case in cases:
            out = net(case["x"], case["mu"], case["t"])
            torch.testing.assert_close(out, case["out"], atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", list(NETWORKS))
@pytest.mark.parametrize("prefix", ["", "module."])
def test_reference_pth_loads_and_reproduces_its_outputs(name, prefix, tmp_path):
    state, cases = fixture(name)
    path = tmp_path / f"{name}.pth"
    torch.save({prefix + k: v for k, v in state.items()}, path)
    net = load_model(path)
    cfg = net.irsde_config
    _, arch, conditional = NETWORKS[name]
    assert cfg["arch"] == arch and cfg.source == "reference-pth"
    assert cfg.conditional is conditional
    assert_reproduces(net, cases)  # channels-last, as load_model leaves it on CPU
    assert_reproduces(net.to(memory_format=torch.contiguous_format), cases)


@pytest.mark.parametrize("name", list(NETWORKS))
def test_saved_as_safetensors_it_records_what_it_is(name, tmp_path):
    state, cases = fixture(name)
    torch.save(state, tmp_path / "ref.pth")
    net = load_model(tmp_path / "ref.pth")
    path = save_model(net, tmp_path / "m.safetensors", sde={"type": "denoising", "max_sigma": 70})
    import json

    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = json.loads(f.metadata()["irsde"])
    assert meta["conditional"] is NETWORKS[name][2]
    loaded = load_model(path)
    assert loaded.irsde_config["arch_params"] == net.irsde_config["arch_params"]
    assert loaded.irsde_config["sde"]["type"] == "denoising"
    assert_reproduces(loaded, cases)


def test_hyper_parameters_are_read_from_the_state_dict():
    _, params = read_model_file_params("refusion")
    assert params == {
        "in_nc": 3,
        "width": 8,
        "enc_blocks": [1, 2],
        "middle_blocks": 2,
        "dec_blocks": [2, 1],
        "conditional": True,
    }
    _, params = read_model_file_params("unet_uncond")
    assert params == {"in_nc": 3, "out_nc": 3, "nf": 4, "depth": 2}


def read_model_file_params(name: str) -> tuple[str, dict]:
    from irsde.nets import infer_architecture

    return infer_architecture(fixture(name)[0])


def test_the_two_nafnets_and_the_two_unets_are_told_apart():
    from irsde.nets import detect_architecture

    assert detect_architecture(fixture("refusion")[0]).name == "RefusionNAFNet"
    assert detect_architecture(fixture("unet_uncond")[0]).name == "UnconditionalUNet"
    assert detect_architecture(fixture("unet")[0]).name == "ConditionalUNet"


def test_embedded_models_are_still_irsde_nafnets():
    from irsde.weights import available_models

    entries = available_models()
    assert entries
    for entry in entries:
        _, cfg = read_model_file(entry.path)
        assert cfg["arch"] == "ConditionalNAFNet" and cfg.conditional


def one_line_error(path: Path) -> str:
    with pytest.raises(ModelLoadError) as err:
        load_model(path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg
    return msg


def test_a_nafnet_with_a_block_missing_is_refused_naming_it(tmp_path):
    state, _ = fixture("refusion")
    broken = {k: v for k, v in state.items() if not k.startswith("encoders.1.0.")}
    torch.save(broken, tmp_path / "missing.pth")
    msg = one_line_error(tmp_path / "missing.pth")
    assert "encoders.1.0." in msg and "block 0 is missing" in msg
    # a block with one weight gone: the key is named
    del state["middle_blks.1.conv3.weight"]
    torch.save(state, tmp_path / "partial.pth")
    assert "missing keys: middle_blks.1.conv3.weight" in one_line_error(tmp_path / "partial.pth")


def test_a_unet_with_the_wrong_init_conv_width_is_refused_naming_it(tmp_path):
    for name, width in (("unet_uncond", 6), ("unet", 3), ("unet", 5)):
        state, _ = fixture(name)
        w = state["init_conv.weight"]
        state["init_conv.weight"] = torch.zeros(w.shape[0], width, *w.shape[2:])
        path = tmp_path / f"{name}{width}.pth"
        torch.save(state, path)
        msg = one_line_error(path)
        assert "init_conv.weight" in msg and f"reads {width} channels" in msg
        assert "final_conv.weight" in msg


def test_a_refusion_nafnet_with_the_wrong_intro_width_is_refused(tmp_path):
    state, _ = fixture("refusion")
    w = state["intro.weight"]
    state["intro.weight"] = torch.zeros(w.shape[0], 4, *w.shape[2:])
    torch.save(state, tmp_path / "intro.pth")
    msg = one_line_error(tmp_path / "intro.pth")
    assert "intro.weight reads 4 channels" in msg and "ending.weight" in msg


# ------------------------------------------------------------------ restoring from t*
DENOISING = {"type": "denoising", "max_sigma": 70, "T": 40}


def noisy_photo(sigma: float = 25, size: tuple[int, int] = (20, 27), seed: int = 0):
    """A smooth colour image and it with Gaussian noise of ``sigma`` (8-bit units), clipped."""
    import numpy as np

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: size[0], : size[1]] / max(size)
    clean = np.stack([0.5 + 0.3 * np.sin(3 * xx), 0.4 + 0.3 * yy, 0.6 - 0.2 * xx * yy], -1)
    noisy = np.clip(clean + rng.normal(0, sigma / 255, clean.shape), 0, 1)
    return clean, noisy.astype(np.float32)


@pytest.fixture
def denoising_model(tmp_path) -> Path:
    """A tiny unconditional U-Net saved with the denoising SDE."""
    from irsde.nets import build_network

    torch.manual_seed(0)
    net = build_network("UnconditionalUNet", nf=8, depth=2).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(0.3)
    return save_model(net, tmp_path / "dn.safetensors", sde=DENOISING, task="denoise")


def test_noise_level_estimate_is_the_wavelet_mad_one():
    import numpy as np

    from irsde.restore.noiselevel import estimate_noise_level

    clean, noisy = noisy_photo(25, (128, 128))
    assert abs(255 * estimate_noise_level(noisy) - 25) < 1.5
    assert 255 * estimate_noise_level(clean) < 1
    skimage = pytest.importorskip("skimage.restoration")
    pytest.importorskip("pywt")
    theirs = skimage.estimate_sigma(noisy, channel_axis=-1, average_sigmas=True)  # db2
    np.testing.assert_allclose(estimate_noise_level(noisy), theirs, rtol=0.05)


def test_restorer_starts_at_t_star_with_the_noisy_image(denoising_model):
    from irsde.restore import Restorer
    from irsde.samplers import sample

    _, noisy = noisy_photo()
    restorer = Restorer(denoising_model, sampler=None, noise_level=25, tile=None, device="cpu")
    assert restorer.sampler == "ode" and type(restorer.sde).__name__ == "DenoisingSDE"
    t_star = restorer.sde.optimal_timestep(25)
    assert 0 < t_star < restorer.sde.T and f"t*={t_star}" in restorer.describe()
    seen = []
    out = restorer.restore(noisy)
    mu = torch.from_numpy(noisy).permute(2, 0, 1)[None]
    restorer.run(mu, callback=lambda info: seen.append(info["t"]))
    assert seen == list(range(t_star, 0, -1))  # from t* down to 1, nothing above
    expected = sample(restorer.net, restorer.sde, mu, "ode", start=t_star, x_T=mu)
    expected = expected[0].clamp(0, 1).permute(1, 2, 0).numpy()
    assert abs(out - expected).max() < 1e-6
    assert abs(out - noisy).max() > 1e-3  # it did something


def test_without_a_noise_level_it_is_estimated_and_logged(denoising_model, caplog):
    import logging

    from irsde.restore import Restorer
    from irsde.restore.noiselevel import estimate_noise_level

    _, noisy = noisy_photo(30)
    blind = Restorer(denoising_model, sampler=None, tile=None, device="cpu")
    with caplog.at_level(logging.INFO, logger="irsde"):
        out = blind.restore(noisy)
    assert "estimated noise level" in caplog.text
    level = estimate_noise_level(noisy)
    told = Restorer(denoising_model, sampler=None, noise_level=level, tile=None, device="cpu")
    assert abs(told.restore(noisy) - out).max() == 0


def test_sde_sampler_and_other_samplers_run_from_t_star(denoising_model):
    from irsde.restore import Restorer

    _, noisy = noisy_photo()
    for sampler in ("sde", "posterior"):
        out = Restorer(denoising_model, sampler=sampler, noise_level=25, tile=None).restore(noisy)
        assert out.shape == noisy.shape and abs(out - noisy).max() > 1e-3


def test_a_noise_level_needs_the_denoising_sde(tmp_path):
    from irsde.errors import UsageError
    from irsde.nets import build_network
    from irsde.restore import Restorer

    net = build_network(
        "ConditionalNAFNet", width=8, enc_blocks=[1], middle_blocks=1, dec_blocks=[1]
    )
    path = save_model(net, tmp_path / "irsde.safetensors", task="denoise")
    with pytest.raises(UsageError, match=r"type .denoising.*.irsde."):
        Restorer(path, noise_level=25)


def test_an_unconditional_pth_without_settings_gets_the_denoising_sde(tmp_path):
    from irsde.restore import Restorer

    state, _ = fixture("unet_uncond")
    torch.save(state, tmp_path / "ir-sde.pth")
    restorer = Restorer(tmp_path / "ir-sde.pth", sampler=None, noise_level=15, sde={"T": 100})
    assert restorer.sde.type == "denoising" and restorer.sde.T == 100
    assert "denoising-sde defaults" in restorer.sde_note


def test_cli_restore_with_noise_level(denoising_model, tmp_path, capsys):
    import numpy as np

    from irsde.cli import main
    from irsde.io import read_image, write_image
    from irsde.restore import Restorer

    _, noisy = noisy_photo()
    src = tmp_path / "noisy.png"
    write_image(src, np.clip(noisy, 0, 1))
    noisy8 = read_image(src)
    code = main(
        [
            "restore",
            str(src),
            "--model",
            str(denoising_model),
            "--noise-level",
            "25",
            "-o",
            str(tmp_path / "out"),
        ]
    )
    assert code == 0
    got = read_image(tmp_path / "out" / "noisy.png")
    want = Restorer(denoising_model, sampler="ode", noise_level=25, tile=None).restore(noisy8)
    assert abs(got - want).max() <= 1 / 255 + 1e-6


def test_denoise_sde_recipe_trains_three_steps_and_restores_from_a_noise_level(tmp_path):
    import numpy as np
    import yaml

    from irsde.cli import main
    from irsde.configs import config_path
    from irsde.io import write_image
    from irsde.train import parse_config
    from irsde.train.trainer import train

    recipe = config_path("reference/denoise-sde")
    cfg = yaml.safe_load(recipe.read_text())
    assert cfg["sde"]["type"] == "denoising" and cfg["network"]["arch"] == "UnconditionalUNet"
    cfg["sde"]["T"] = 30
    cfg["network"]["params"] = {"in_nc": 3, "out_nc": 3, "nf": 8, "depth": 2}
    cfg["data"] = {
        "train": {
            "type": "synthetic",
            "source": "deadleaves",
            "crop": 16,
            "length": 8,
            "params": {"sigma": 25},
        },
        "batch_size": 2,
    }
    cfg["train"].update(max_steps=3, log_every=1, val_every=3, ckpt_every=3, val_images=1)
    train(parse_config(cfg, str(recipe)), tmp_path / "run")
    model = tmp_path / "run" / "final.safetensors"
    _, cfg_saved = read_model_file(model)
    assert cfg_saved["sde"]["type"] == "denoising" and not cfg_saved.conditional
    _, noisy = noisy_photo()
    write_image(tmp_path / "n.png", np.clip(noisy, 0, 1))
    out = tmp_path / "out"
    assert (
        main(
            [
                "restore",
                str(tmp_path / "n.png"),
                "--model",
                str(model),
                "--noise-level",
                "25",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert (out / "n.png").is_file()


# -------------------------------------------------------------- reference option files
UNET = {
    "which_model_G": "ConditionalUNet",
    "setting": {"in_nc": 3, "out_nc": 3, "nf": 64, "depth": 4},
}
NAFNET = {
    "which_model_G": "ConditionalNAFNet",
    "setting": {
        "width": 64,
        "enc_blk_nums": [1, 1, 1, 28],
        "middle_blk_num": 1,
        "dec_blk_nums": [1, 1, 1, 1],
    },
}
ADAM = {
    "optimizer": "Adam",
    "lr_G": 1e-4,
    "lr_scheme": "MultiStepLR",
    "beta1": 0.9,
    "beta2": 0.99,
    "niter": 700000,
    "warmup_iter": -1,
    "lr_steps": [200000, 400000, 600000],
    "lr_gamma": 0.5,
    "eta_min": 1e-7,
    "is_weighted": False,
    "loss_type": "l1",
    "weight": 1.0,
    "manual_seed": 0,
    "val_freq": 5e3,
}
LION = {**ADAM, "optimizer": "Lion", "lr_G": 4e-5, "lr_scheme": "TrueCosineAnnealingLR"}
#: config folder -> (distortion, sde, degradation extras, train mode, networks)
FAMILIES = {
    "deraining": (
        "derain",
        {"max_sigma": 10, "T": 100, "schedule": "cosine", "eps": 0.005},
        {},
        "LQGT",
    ),
    "deblurring": (
        "deblur",
        {"max_sigma": 10, "T": 100, "schedule": "cosine", "eps": 0.005},
        {},
        "LQGT",
    ),
    "sisr": ("sr", {"max_sigma": 30, "T": 100, "schedule": "cosine", "eps": 0.005}, {}, "LQGT"),
    "inpainting": (
        "derain",
        {"max_sigma": 30, "T": 100, "schedule": "cosine", "eps": 0.005},
        {"mask_root": "datasets/gt_keep_masks/thin"},
        "GT",
    ),
    "denoising-sde": (None, {"max_sigma": 70, "T": 1000, "schedule": "cosine"}, {}, "GT"),
}
TASK_OF = {
    "deraining": "derain",
    "deblurring": "deblur",
    "sisr": "sr4",
    "inpainting": "inpaint",
    "denoising-sde": "denoise",
}


def option_file(family: str, phase: str, flavour: str) -> dict:
    """A reference option file of ``family`` (its facts; our own layout of them)."""
    distortion, sde, extra, mode = FAMILIES[family]
    opts: dict = {"name": flavour, "model": "denoising", "gpu_ids": [0]}
    if distortion:
        opts["distortion"] = distortion
    opts["sde"] = (
        dict(sde) if family != "denoising-sde" or phase == "train" else {"max_sigma": 75, "T": 100}
    )
    if phase == "test" and family == "deraining" and flavour == "ir-sde":
        opts["sde"]["sampling_mode"] = "posterior"
    opts["degradation"] = {
        "sigma": 50 if family == "denoising-sde" else 25,
        "noise_type": "G",
        **({"scale": 4} if distortion else {}),
        **extra,
    }
    lq = {"dataroot_LQ": "datasets/x/LQ"} if mode == "LQGT" else {}
    if phase == "train":
        opts["use_tb_logger"] = True
        opts["datasets"] = {
            "train": {
                "name": "Train_Dataset",
                "mode": mode,
                "dataroot_GT": "datasets/x/GT",
                **lq,
                "use_shuffle": True,
                "n_workers": 4,
                "batch_size": 8 if family == "denoising-sde" else 4,
                "GT_size": 128,
                **({"LR_size": 32 if family == "sisr" else 128} if lq else {}),
                "use_flip": True,
                "use_rot": True,
                "color": "RGB",
            },
            "val": {"name": "Val_Dataset", "mode": mode, "dataroot_GT": "datasets/v/GT", **lq},
        }
        opts["train"] = dict(LION if flavour == "refusion" else ADAM)
        opts["path"] = {"pretrain_model_G": None, "strict_load": True, "resume_state": None}
        opts["logger"] = {"print_freq": 100, "save_checkpoint_freq": 5e3}
    else:
        opts["suffix"] = None
        opts["datasets"] = {
            "test1": {"name": "Test", "mode": mode, "dataroot_GT": "datasets/t/GT", **lq},
            "test2": {"name": "Test2", "mode": mode, "dataroot_GT": "datasets/u/GT", **lq},
        }
        opts["path"] = {"pretrain_model_G": f"pretrained/{flavour}.pth"}
    opts["network_G"] = NAFNET if flavour == "refusion" else UNET
    return opts


OPTION_FILES = [
    (f, p, v) for f in FAMILIES for p in ("train", "test") for v in ("ir-sde", "refusion")
]


@pytest.mark.parametrize(
    ("family", "phase", "flavour"), OPTION_FILES, ids=["/".join(o) for o in OPTION_FILES]
)
def test_reference_option_files_convert_and_validate(family, phase, flavour, tmp_path, capsys):
    import yaml

    from irsde.cli import main
    from irsde.train import load_config

    src = tmp_path / f"{flavour}.yml"
    src.write_text(yaml.safe_dump(option_file(family, phase, flavour)))
    out = tmp_path / "config.yml"
    code = main(["convert-config", str(src), "-o", str(out)])
    err = capsys.readouterr().err
    if phase == "train" and flavour == "refusion":  # Lion: no irsde optimizer for it
        assert code != 0 and not out.exists()
        assert err.count("\n") == 1 and "train.optimizer" in err and "Lion" in err
        return
    assert code == 0, err
    for folder in ("x/GT", "x/LQ", "v/GT", "v/LQ", "t/GT", "t/LQ", "u/GT", "u/LQ"):
        (tmp_path / "datasets" / folder).mkdir(parents=True, exist_ok=True)
    (tmp_path / "pretrained").mkdir()
    (tmp_path / "pretrained" / f"{flavour}.pth").write_bytes(b"")
    cfg = load_config(out)  # paths resolved against the config's folder, checked
    assert cfg.task == TASK_OF[family]
    denoising = family == "denoising-sde"
    sde = cfg.sde_settings()
    assert sde["type"] == ("denoising" if denoising else "irsde")
    assert sde["T"] == option_file(family, phase, flavour)["sde"]["T"]
    arch = {
        "ir-sde": "UnconditionalUNet" if denoising else "ConditionalUNet",
        "refusion": "RefusionNAFNet",
    }[flavour]
    assert cfg.network.arch == arch
    if flavour == "refusion":
        assert cfg.network.params["enc_blocks"] == [1, 1, 1, 28]
        assert cfg.network.params["conditional"] is not denoising
    assert cfg.sampler.name == ("ode" if denoising else "posterior")
    if phase == "train":
        assert cfg.train.max_steps == 700000 and cfg.lr_schedule.milestones == [
            200000,
            400000,
            600000,
        ]
        assert cfg.data.train.crop == 128 and cfg.data.batch_size == (8 if denoising else 4)
        assert cfg.data.train.type == (
            "synthetic" if family in ("inpainting", "denoising-sde") else "paired"
        )
    else:
        assert str(cfg.network.init).endswith(f"{flavour}.pth")


def test_an_option_without_an_equivalent_is_named_in_one_line(tmp_path, capsys):
    import yaml

    from irsde.cli import main

    for edit, named in (
        (lambda o: o["network_G"].update(which_model_G="DiT"), "network_G.which_model_G"),
        (lambda o: o["train"].update(lr_scheme="OneCycle"), "train.lr_scheme"),
        (lambda o: o["sde"].update(mystery=1), "sde.mystery"),
        (lambda o: o["path"].update(resume_state="x.state"), "path.resume_state"),
        (lambda o: o["datasets"]["train"].update(mode="LQ"), "datasets.train.mode"),
    ):
        opts = option_file("deraining", "train", "ir-sde")
        opts["network_G"] = {**opts["network_G"]}
        edit(opts)
        src = tmp_path / "o.yml"
        src.write_text(yaml.safe_dump(opts))
        assert main(["convert-config", str(src), "-o", str(tmp_path / "c.yml")]) != 0
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and named in err and str(src) in err, err
