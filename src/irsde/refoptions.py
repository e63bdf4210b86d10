"""Reference option files (``codes/config/*/options/{train,test}/*.yml``) as irsde configs.

:func:`convert_options` maps the sections of a reference option file (``sde``,
``network_G``, ``datasets``, ``train``, ``path``, ``degradation``) to the dict that
:func:`irsde.train.parse_config` validates; an option it cannot map raises one
:class:`~irsde.errors.ConfigError` line naming it. Options that do not change the recipe
(logging, GPU ids, dataset names, shuffling, colour) are dropped.

The reference's task is its config folder, which an option file does not always name
(its inpainting options say ``distortion: derain``); it is read as: a ``mask_root`` in
``degradation`` is inpainting, no ``distortion`` with GT-only data is the denoising-sde
family (the :class:`~irsde.sde.DenoisingSDE`, unconditional networks), else
``distortion`` (``derain``, ``deblur``, ``sr``). ``task=`` overrides it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import ConfigError

#: the reference's ``distortion`` -> irsde task
DISTORTIONS = {"derain": "derain", "deblur": "deblur", "sr": "sr4", "denoise": "denoise"}
#: the reference's ``network_G.which_model_G`` -> (conditional arch, unconditional arch)
NETWORKS = {
    "ConditionalUNet": ("ConditionalUNet", "UnconditionalUNet"),
    "ConditionalNAFNet": ("RefusionNAFNet", "RefusionNAFNet"),
}
OPTIMIZERS = {"Adam": "adam", "AdamW": "adamw"}
#: the reference's ``sde.sampling_mode`` -> sampler
SAMPLING_MODES = {"posterior": "posterior", "normal": "sde", "sde": "sde", "ode": "ode"}
#: options that do not change the recipe, dropped (``section.key`` or top-level keys)
IGNORED = {
    "use_tb_logger",
    "gpu_ids",
    "suffix",
    "model",
    "dist",
    "logger",
    "distortion",
    "path.strict_load",
    "path.results_root",
    "train.weight",
    "train.manual_seed",
    "train.lr_steps",
    "train.lr_gamma",
    "train.eta_min",
    "train.is_weighted",
    "train.warmup_iter",
    "train.beta1",
    "train.beta2",
    "data.name",
    "data.use_shuffle",
    "data.color",
    "data.n_workers",
    "data.batch_size",
    "data.GT_size",
    "data.LR_size",
    "data.use_flip",
    "data.use_rot",
    "data.mode",
    "data.dataroot_GT",
    "data.dataroot_LQ",
    "data.optimizer",  # misplaced in some refusion files; the train section's counts
}


def _fail(option: str, why: str) -> ConfigError:
    return ConfigError(f"cannot map option {option}: {why}")


def reference_task(opts: Mapping[str, Any]) -> str:
    """The irsde task of a reference option file (see the module docstring)."""
    degradation = opts.get("degradation") or {}
    if isinstance(degradation, Mapping) and degradation.get("mask_root"):
        return "inpaint"
    distortion = opts.get("distortion")
    if distortion is None:
        return "denoise"
    if distortion not in DISTORTIONS:
        raise _fail("distortion", f"{distortion!r} is not one of {', '.join(DISTORTIONS)}")
    return DISTORTIONS[distortion]


def _denoising_family(opts: Mapping[str, Any]) -> bool:
    """The denoising-sde configs: no ``distortion`` and GT-only data."""
    sets = opts.get("datasets") or {}
    modes = {d.get("mode") for d in sets.values() if isinstance(d, Mapping)}
    return "distortion" not in opts and modes <= {"GT"}


def _sde(opts: Mapping[str, Any], denoising: bool) -> tuple[dict[str, Any], str | None]:
    sde = dict(opts.get("sde") or {})
    mode = sde.pop("sampling_mode", None)
    unknown = sorted(set(sde) - {"max_sigma", "T", "schedule", "eps"})
    if unknown:
        raise _fail(f"sde.{unknown[0]}", "irsde's SDEs take max_sigma, T, schedule, eps")
    if mode is not None and mode not in SAMPLING_MODES:
        raise _fail("sde.sampling_mode", f"{mode!r} is not one of {', '.join(SAMPLING_MODES)}")
    spec = {"type": "denoising" if denoising else "irsde", **sde}
    return spec, (SAMPLING_MODES[mode] if mode else None)


def _network(opts: Mapping[str, Any], denoising: bool) -> dict[str, Any]:
    net = opts.get("network_G") or {}
    which = net.get("which_model_G")
    if which not in NETWORKS:
        raise _fail("network_G.which_model_G", f"{which!r} is not one of {', '.join(NETWORKS)}")
    arch = NETWORKS[which][denoising]
    s = dict(net.get("setting") or {})
    s.pop("upscale", None)  # unused by the reference networks
    if arch.endswith("UNet"):
        names = {"in_nc": "in_nc", "out_nc": "out_nc", "nf": "nf", "depth": "depth"}
    else:
        names = {
            "img_channel": "in_nc",
            "width": "width",
            "enc_blk_nums": "enc_blocks",
            "middle_blk_num": "middle_blocks",
            "dec_blk_nums": "dec_blocks",
        }
    unknown = sorted(set(s) - set(names))
    if unknown:
        raise _fail(f"network_G.setting.{unknown[0]}", f"{which} takes {', '.join(names)}")
    params = {names[k]: v for k, v in s.items()}
    if arch == "RefusionNAFNet":
        params["conditional"] = not denoising
    out: dict[str, Any] = {"arch": arch, "params": params}
    init = (opts.get("path") or {}).get("pretrain_model_G")
    if init:
        out["init"] = init
    return out


def _dataset(
    d: Mapping[str, Any], where: str, task: str, sigma: Any, train: bool
) -> dict[str, Any]:
    unknown = sorted(k for k in d if f"data.{k}" not in IGNORED)
    if unknown:
        raise _fail(f"{where}.{unknown[0]}", "no irsde data setting for it")
    mode = d.get("mode")
    crop = d.get("GT_size") if train else None
    out: dict[str, Any]
    if mode == "LQGT":
        out = {"type": "paired", "gt": d.get("dataroot_GT"), "lq": d.get("dataroot_LQ")}
    elif mode == "GT":
        out = {"type": "synthetic", "source": d.get("dataroot_GT")}
        if task == "denoise" and sigma is not None:
            out["params"] = {"sigma": sigma}
    else:
        raise _fail(f"{where}.mode", f"{mode!r} is not LQGT or GT")
    out["crop"] = crop
    out["augment"] = bool(train and (d.get("use_flip") or d.get("use_rot")))
    return out


def _data(opts: Mapping[str, Any], task: str) -> dict[str, Any]:
    sets = dict(opts.get("datasets") or {})
    sigma = (opts.get("degradation") or {}).get("sigma")
    data: dict[str, Any] = {}
    train = sets.pop("train", None)
    if train is not None:
        data["train"] = _dataset(train, "datasets.train", task, sigma, True)
        if "batch_size" in train:
            data["batch_size"] = train["batch_size"]
        if "n_workers" in train:
            data["num_workers"] = train["n_workers"]
    val_key = "val" if "val" in sets else next(iter(sorted(sets)), None)  # test1, test2, ...
    if val_key is not None:
        data["val"] = _dataset(sets[val_key], f"datasets.{val_key}", task, sigma, False)
    return data


def _training(opts: Mapping[str, Any]) -> dict[str, Any]:
    t = dict(opts.get("train") or {})
    if not t:
        return {}
    unknown = sorted(
        k
        for k in t
        if f"train.{k}" not in IGNORED
        and k not in {"optimizer", "lr_G", "lr_scheme", "niter", "loss_type", "val_freq"}
    )
    if unknown:
        raise _fail(f"train.{unknown[0]}", "no irsde training setting for it")
    opt = t.get("optimizer", "Adam")
    if opt not in OPTIMIZERS:
        raise _fail("train.optimizer", f"{opt!r}: irsde trains with {', '.join(OPTIMIZERS)}")
    out: dict[str, Any] = {
        "optim": {
            "type": OPTIMIZERS[opt],
            "lr": float(t.get("lr_G", 1e-4)),
            "betas": [float(t.get("beta1", 0.9)), float(t.get("beta2", 0.99))],
        },
        "loss": {"type": "ml", "kind": t.get("loss_type", "l1")},
    }
    if out["loss"]["kind"] not in ("l1", "l2"):
        raise _fail("train.loss_type", f"{out['loss']['kind']!r} is not l1 or l2")
    scheme = t.get("lr_scheme", "MultiStepLR")
    niter = int(float(t.get("niter", 700_000)))
    if scheme == "MultiStepLR":
        milestones = [int(float(m)) for m in t.get("lr_steps") or []]
        out["lr_schedule"] = {
            "type": "multistep",
            "milestones": milestones,
            "gamma": float(t.get("lr_gamma", 0.5)),
        }
    elif scheme in ("CosineAnnealingLR", "TrueCosineAnnealingLR"):
        lr_min = float(t.get("eta_min", 0.0))
        out["lr_schedule"] = {"type": "cosine", "min_lr_ratio": lr_min / out["optim"]["lr"]}
    else:
        raise _fail("train.lr_scheme", f"{scheme!r} is not MultiStepLR or (True)CosineAnnealingLR")
    warmup = int(float(t.get("warmup_iter", -1)))
    if warmup > 0:
        out["lr_schedule"]["warmup_steps"] = warmup
    loop: dict[str, Any] = {"max_steps": niter}
    if "val_freq" in t:
        loop["val_every"] = int(float(t["val_freq"]))
    ckpt = (opts.get("logger") or {}).get("save_checkpoint_freq")
    if ckpt is not None:
        loop["ckpt_every"] = int(float(ckpt))
    out["train"] = loop
    out["seed"] = int(t.get("manual_seed", 0))
    return out


def convert_options(opts: Mapping[str, Any], task: str | None = None) -> dict[str, Any]:
    """The irsde training config (a dict) of a reference option file's contents.

    Raises:
        ConfigError: one line naming the first option that has no irsde equivalent.
    """
    if not isinstance(opts, Mapping):
        raise ConfigError(f"not a reference option file (a {type(opts).__name__})")
    known = {"name", "sde", "network_G", "datasets", "train", "path", "degradation"}
    unknown = sorted(k for k in opts if k not in known and k not in IGNORED)
    if unknown:
        raise _fail(unknown[0], "not a reference option irsde knows")
    path = dict(opts.get("path") or {})
    if path.get("resume_state"):
        raise _fail("path.resume_state", "resume an irsde run with `irsde train --resume`")
    extra = sorted(set(path) - {"pretrain_model_G", "strict_load", "resume_state", "results_root"})
    if extra:
        raise _fail(f"path.{extra[0]}", "no irsde setting for it")
    denoising = _denoising_family(opts) and "mask_root" not in (opts.get("degradation") or {})
    task = task or reference_task(opts)
    sde, sampler = _sde(opts, denoising)
    cfg: dict[str, Any] = {"name": str(opts.get("name") or "reference"), "task": task}
    cfg["sde"] = sde
    cfg["network"] = _network(opts, denoising)
    cfg["data"] = _data(opts, task)
    cfg.update(_training(opts))
    name = sampler or ("ode" if denoising else "posterior")
    cfg["sampler"] = {"name": name, "steps": None}
    cfg.setdefault("train", {})["val_sampler"] = {"name": name, "steps": None}
    return cfg
