"""The training loop: ML matching loss, EMA, validation, atomic checkpoints, exact resume.

Determinism: batch order is a permutation seeded by ``(seed, epoch)``, each item's
augmentation and degradation by ``(seed, epoch, index)``, and the timesteps and noise
by a generator whose state is checkpointed. ``N`` steps, a resume, then ``N`` more give
the same weights as ``2N`` steps straight (bitwise on CPU).
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from .. import __version__
from ..errors import ConfigError, IrsdeError
from ..io import tensor_to_image, to_uint8
from ..losses import ml_matching_loss, noise_matching_loss, sample_training_state, x0_matching_loss
from ..metrics import psnr, psnr_y, ssim
from ..samplers import sample
from ..sde import build_sde
from ..tasks import get_task
from . import distributed as dist_utils
from .checkpoint import load_checkpoint, remove_stale_temps, save_checkpoint
from .config import TrainConfig
from .data import EpochBatches, build_dataset
from .logs import RunLog, plot_curves

log = logging.getLogger(__name__)

StepCallback = Callable[[dict[str, Any]], None]
#: models exported into the run folder
_EXPORTS = ("best.safetensors", "final.safetensors")
#: steps a time-budgeted run takes before it starts timing itself (warm-up is slower)
_UNTIMED_STEPS = 10


class TrainingError(IrsdeError):
    """Training cannot go on (e.g. the loss stayed non-finite)."""

    exit_code = 1


@dataclass
class TrainState:
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    #: validation PSNR-Y (paper convention, ``irsde.metrics.psnr_y``) of ``best.safetensors``
    best_psnr_y: float = -math.inf
    #: RGB validation PSNR at that step
    best_psnr: float = -math.inf
    nonfinite_total: int = 0
    #: step target chosen to fit ``train.time_budget`` (0: none chosen)
    budget_steps: int = 0


def lr_lambda(
    cfg: TrainConfig, total_steps: Callable[[], int] | None = None
) -> Callable[[int], float]:
    """LR multiplier per step: linear warm-up, then constant, multistep or cosine.

    ``total_steps`` gives the schedule's length when it can change during the run (a time
    budget); default ``train.max_steps``.
    """
    sch = cfg.lr_schedule

    def factor(step: int) -> float:
        total = total_steps() if total_steps is not None else cfg.train.max_steps
        if sch.warmup_steps and step < sch.warmup_steps:
            return (step + 1) / sch.warmup_steps
        if sch.type == "multistep":
            return sch.gamma ** sum(step >= m for m in sch.milestones)
        if sch.type == "cosine":
            span = max(1, total - sch.warmup_steps)
            progress = min(1.0, (step - sch.warmup_steps) / span)
            return sch.min_lr_ratio + (1 - sch.min_lr_ratio) * 0.5 * (
                1 + math.cos(math.pi * progress)
            )
        return 1.0

    return factor


def network_params(cfg: TrainConfig) -> dict[str, Any]:
    """The network's constructor arguments (:meth:`TrainConfig.network_arguments`)."""
    return cfg.network_arguments()


def build_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    o = cfg.optim
    cls = torch.optim.AdamW if o.type == "adamw" else torch.optim.Adam
    return cls(params, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """``ema = decay * ema + (1 - decay) * model`` for parameters; buffers copied."""
    e_params = list(ema.parameters())
    m_params = list(model.parameters())
    torch._foreach_lerp_(e_params, m_params, 1 - decay)
    for eb, mb in zip(ema.buffers(), model.buffers(), strict=True):
        eb.copy_(mb)


def _param_checksum(model: nn.Module) -> str:
    """Exact fingerprint of the weights (to check that ranks agree)."""
    import hashlib

    h = hashlib.sha256()
    for p in model.state_dict().values():
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class Trainer:
    """Trains one model into ``run_dir`` (checkpoints, logs, exported models)."""

    def __init__(
        self, cfg: TrainConfig, run_dir: Path, *, resume: bool = False, max_steps: int | None = None
    ):
        from ..nets import build_network

        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.ckpt_path = self.run_dir / "checkpoints" / "last.pt"
        self.target_steps = max_steps or cfg.train.max_steps
        self.device = dist_utils.pick_device(dist_utils.env_dist_info().local_rank)
        self.dist = dist_utils.init_distributed(self.device)
        if self.device.type == "cuda":  # fixed training shapes: let cuDNN pick its kernels
            torch.backends.cudnn.benchmark = True
        self._check_run_dir(resume)

        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        self.sde = build_sde(cfg.sde_settings())
        params = network_params(cfg)
        try:
            self.model = build_network(cfg.network.arch, **params).to(self.device)
        except (TypeError, ValueError, KeyError) as err:
            raise ConfigError(f"network: {err}") from None
        if cfg.network.init is not None and not resume:
            self._load_init_weights(cfg.network.init)
        self.ema = build_network(cfg.network.arch, **params).to(self.device)
        self.ema.load_state_dict(self.model.state_dict())
        self.ema.requires_grad_(False).eval()
        self.optimizer = build_optimizer(cfg, self.model.parameters())
        self.state = TrainState()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lr_lambda(cfg, self._schedule_length)
        )
        self.amp = cfg.train.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.gen = torch.Generator(self.device).manual_seed(cfg.seed * 1000 + 17 + self.dist.rank)

        self.train_set = build_dataset(cfg.data.train, cfg.task, cfg.seed, train=True)
        val_src = cfg.data.val or cfg.data.train
        self.val_set = build_dataset(
            val_src, cfg.task, cfg.seed + 1, train=False, length=cfg.train.val_images
        )
        self.batches = EpochBatches(
            len(self.train_set), cfg.data.batch_size, cfg.seed, self.dist.rank, self.dist.world_size
        )
        if resume:
            self._restore(load_checkpoint(self.ckpt_path, self.device))
            if self.state.budget_steps:  # a budgeted run keeps the target it chose
                self.target_steps = min(self.target_steps, self.state.budget_steps)
        self.ddp = (
            DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
            if self.dist.enabled
            else self.model
        )
        self.runlog = (
            RunLog(self.run_dir, self.state.step if resume else None) if self.dist.is_main else None
        )

    # ------------------------------------------------------------- set-up
    def _schedule_length(self) -> int:
        return self.state.budget_steps or self.cfg.train.max_steps

    def _fit_time_budget(self, steps_done: int, seconds: float, elapsed: float) -> None:
        """Lower the step target so the run ends within ``train.time_budget`` seconds.

        ``steps_done`` steps took ``seconds`` (warm-up excluded); ``elapsed`` seconds of the
        budget are spent. All processes adopt the smallest target.
        """
        budget = self.cfg.train.time_budget
        rate = steps_done / max(seconds, 1e-9)
        # a little headroom for the final validation, checkpoint and export
        fit = self.state.step + int(rate * max(0.0, 0.97 * budget - elapsed))
        fit = min(dist_utils.gather_objects(fit))
        target = max(self.state.step + 1, min(self.target_steps, fit))
        self.state.budget_steps = self.target_steps = target
        log.info(
            "time budget %.0f s: %.2f steps/s measured, training to step %d", budget, rate, target
        )

    def _check_run_dir(self, resume: bool) -> None:
        if resume:
            if not self.ckpt_path.exists():
                raise ConfigError(f"{self.run_dir}: nothing to resume (no checkpoints/last.pt)")
            self._remove_stale_temps()
            return
        if self.ckpt_path.exists():
            raise ConfigError(
                f"{self.run_dir}: already holds a run; use --resume to continue it or choose another --out"
            )
        if self.dist.is_main:
            try:
                self.run_dir.mkdir(parents=True, exist_ok=True)
                (self.run_dir / "config.yml").write_text(
                    yaml.safe_dump(self.cfg.model_dump(mode="json"), sort_keys=False)
                )
            except OSError as err:
                raise ConfigError(
                    f"{self.run_dir}: cannot write to the run folder ({err.strerror or err})"
                ) from None
            self._remove_stale_temps()
        dist_utils.barrier()

    def _remove_stale_temps(self) -> None:
        """Delete temp files that a run killed while writing a checkpoint or model left."""
        if self.dist.is_main:
            for path in (self.ckpt_path, *(self.run_dir / n for n in _EXPORTS)):
                for tmp in remove_stale_temps(path):
                    log.info("removed %s, left by an interrupted write", tmp)

    def _load_init_weights(self, path: Path) -> None:
        """Fine-tuning: start from a model file's weights (architectures must match, or
        with ``network.init_grow`` differ only in the number of NAF blocks per stage)."""
        from ..models import check_state_dict, load_model
        from ..nets.nafnet import grow_into

        state = load_model(path).state_dict()
        if self.cfg.network.init_grow:
            try:
                added = grow_into(self.model, state)
            except ValueError as err:
                raise ConfigError(f"network.init {path}: {err}") from None
            log.info("initialised the network from %s, %d new blocks as identities", path, added)
            return
        check_state_dict(self.model, state, f"network.init {path}")
        self.model.load_state_dict({k: v.to(self.device) for k, v in state.items()})
        log.info("initialised the network from %s", path)

    def _restore(self, ck: dict[str, Any]) -> None:
        try:  # re-validate: fields added since the checkpoint was written get their defaults
            saved = TrainConfig.model_validate(ck.get("config", {})).model_dump(mode="json")
        except ValueError:
            raise ConfigError(
                f"{self.ckpt_path}: the checkpoint's config is not valid any more"
            ) from None
        current = self.cfg.model_dump(mode="json")
        saved["network"].pop("init", None)  # fine-tuning weights only matter at the start
        current["network"].pop("init", None)
        for key in ("task", "network", "sde"):
            if saved.get(key) != current.get(key):
                raise ConfigError(
                    f"{self.ckpt_path}: the checkpoint's '{key}' differs from the config; cannot resume"
                )
        try:
            self._load_states(ck)
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as err:
            text = str(err).strip().splitlines()
            what = f"{type(err).__name__}: {text[0][:200] if text else ''}"
            raise ConfigError(f"{self.ckpt_path}: damaged training checkpoint ({what})") from None
        log.info("resumed %s at step %d", self.ckpt_path, self.state.step)

    def _load_states(self, ck: dict[str, Any]) -> None:
        """Weights, optimizer, scheduler, counters and RNG states from a checkpoint."""
        self.model.load_state_dict(ck["model"])
        self.ema.load_state_dict(ck["ema"])
        self.optimizer.load_state_dict(ck["optimizer"])
        self.scheduler.load_state_dict(ck["scheduler"])
        if ck.get("scaler"):
            self.scaler.load_state_dict(ck["scaler"])
        self.state = TrainState(**ck["state"])
        rng = ck["rng"]
        torch.set_rng_state(rng["torch"])
        random.setstate(_to_tuple(rng["python"]))
        gens = rng["generators"]
        if len(gens) != self.dist.world_size:
            raise ConfigError(
                f"{self.ckpt_path}: saved with {len(gens)} processes, resuming with "
                f"{self.dist.world_size}; use the same number of processes"
            )
        self.gen.set_state(gens[self.dist.rank].to("cpu"))
        if rng.get("cuda") is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"].to("cpu"))

    # ------------------------------------------------------------ the loop
    def _epoch_batches(self) -> Iterator[dict[str, torch.Tensor]]:
        """Batches from the current position on, epoch after epoch."""
        while True:
            if hasattr(self.train_set, "set_epoch"):
                self.train_set.set_epoch(self.state.epoch)
            order = self.batches.batches(self.state.epoch)[self.state.batch_in_epoch :]
            loader = DataLoader(
                self.train_set, batch_sampler=order, num_workers=self.cfg.data.num_workers
            )
            yield from loader
            self.state.epoch += 1
            self.state.batch_in_epoch = 0

    def _loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        x0 = batch["gt"].to(self.device, non_blocking=True)
        mu = batch["lq"].to(self.device, non_blocking=True)
        x_t, t, noise = sample_training_state(
            self.sde, x0, mu, self.gen, final_fraction=self.cfg.loss.final_fraction
        )
        with torch.autocast(self.device.type, enabled=self.amp):
            pred = self.ddp(x_t, mu, t)
        pred = pred.float()
        if self.cfg.loss.type == "noise":
            return noise_matching_loss(pred, noise, self.cfg.loss.kind)
        if self.cfg.loss.type == "x0":
            weight = None
            if self.cfg.loss.region == "holes":  # the restorer keeps the known pixels
                weight = batch["mask"].to(self.device, non_blocking=True)
            return x0_matching_loss(
                self.sde, pred, x_t, x0, mu, t, self.cfg.loss.kind, weight=weight
            )
        return ml_matching_loss(self.sde, pred, x_t, x0, mu, t, self.cfg.loss.kind)

    def _step(self, batch: dict[str, torch.Tensor]) -> dict[str, float] | None:
        """One optimisation step; ``None`` when the loss was non-finite (step skipped)."""
        self.model.train()
        loss = self._loss(batch)
        if not dist_utils.all_true(bool(torch.isfinite(loss)), self.device):
            self.optimizer.zero_grad(set_to_none=True)
            return None
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        clip = self.cfg.train.grad_clip or float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip))
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.cfg.ema.enabled:
            ema_update(self.ema, self.model, self.cfg.ema.decay)
        return {"loss": float(loss.detach()), "grad_norm": grad_norm}

    def run(self, on_step: StepCallback | None = None) -> dict[str, Any]:
        """Train up to ``max_steps``; returns a summary (also written to ``summary.json``)."""
        cfg, st = self.cfg, self.state
        consecutive_bad = 0
        window: list[float] = []
        t0, steps0 = time.perf_counter(), st.step
        calibrate = cfg.train.time_budget is not None and not st.budget_steps
        t_warm = t0
        batches = self._epoch_batches()
        while st.step < self.target_steps:
            if calibrate and st.step - steps0 == _UNTIMED_STEPS:
                t_warm = time.perf_counter()
            if calibrate and st.step - steps0 == cfg.train.calibration_steps + _UNTIMED_STEPS:
                now = time.perf_counter()
                self._fit_time_budget(cfg.train.calibration_steps, now - t_warm, now - t0)
                calibrate = False
            batch = next(batches)
            st.batch_in_epoch += 1
            out = self._step(batch)
            st.step += 1
            if out is None:
                st.nonfinite_total += 1
                consecutive_bad += 1
                log.warning(
                    "step %d: non-finite loss, step skipped (%d in a row)", st.step, consecutive_bad
                )
                if consecutive_bad >= cfg.train.max_nonfinite:
                    self._save()
                    raise TrainingError(
                        f"the loss was non-finite for {consecutive_bad} consecutive steps (step {st.step}); "
                        "lower optim.lr or set train.grad_clip"
                    )
                continue
            consecutive_bad = 0
            window.append(out["loss"])
            if on_step is not None:
                on_step(
                    {
                        "step": st.step,
                        "total": self.target_steps,
                        "loss": out["loss"],
                        "lr": self.scheduler.get_last_lr()[0],
                    }
                )
            if st.step % cfg.train.log_every == 0 or st.step == self.target_steps:
                rate = (st.step - steps0) / max(1e-9, time.perf_counter() - t0)
                self._log_scalars(
                    {
                        "epoch": st.epoch,
                        "loss": sum(window) / len(window),
                        "lr": self.scheduler.get_last_lr()[0],
                        "grad_norm": out["grad_norm"],
                        "nonfinite": st.nonfinite_total,
                        "steps_per_s": rate,
                    }
                )
                window.clear()
            if st.step % cfg.train.val_every == 0 or st.step == self.target_steps:
                self._validate()
            if st.step % cfg.train.ckpt_every == 0 or st.step == self.target_steps:
                self._save()
        return self._finish(time.perf_counter() - t0, st.step - steps0)

    # ------------------------------------------------- validation, saving
    @torch.inference_mode()
    def _validate(self) -> None:
        if not self.dist.is_main:
            return
        vs = self.cfg.train.val_sampler
        model = self.ema if self.cfg.ema.enabled else self.model
        model.eval()
        gen = torch.Generator(self.device).manual_seed(self.cfg.seed)
        psnrs, psnrs_y, ssims = [], [], []
        for i in range(len(self.val_set)):
            item = self.val_set[i]
            x0 = item["gt"][None].to(self.device)
            mu = item["lq"][None].to(self.device)
            out = sample(
                model, self.sde, mu, vs.name, vs.steps, spacing=vs.spacing, generator=gen
            ).clamp(0, 1)
            if "mask" in item:  # inpainting: known pixels are kept, as the Restorer does
                out = torch.where(item["mask"][None].to(self.device) > 0, out, mu)
            a, b = to_uint8(tensor_to_image(out)), to_uint8(tensor_to_image(x0))
            psnrs.append(psnr(a, b))
            psnrs_y.append(psnr_y(a, b))
            ssims.append(ssim(a, b) if min(a.shape[:2]) >= 11 else float("nan"))
            if i < 2 and self.runlog is not None:
                self.runlog.images(
                    self.state.step,
                    f"val/{i}_lq_restored_gt",
                    torch.cat([mu[0], out[0], x0[0]], dim=2).cpu(),
                )
        scores = {
            "val_psnr": _finite_mean(psnrs),
            "val_ssim": sum(ssims) / len(ssims),
            "val_psnr_y": _finite_mean(psnrs_y),
        }
        log.info(
            "step %d: validation PSNR-Y %.2f dB (RGB %.2f dB), SSIM %.4f",
            self.state.step,
            scores["val_psnr_y"],
            scores["val_psnr"],
            scores["val_ssim"],
        )
        self._log_scalars(scores)
        if scores["val_psnr_y"] > self.state.best_psnr_y:  # the metric every report uses
            self.state.best_psnr_y = scores["val_psnr_y"]
            self.state.best_psnr = scores["val_psnr"]
            self._export("best.safetensors", scores)

    def _log_scalars(self, values: dict[str, Any]) -> None:
        if self.runlog is not None:
            self.runlog.scalars(self.state.step, values)

    def _save(self) -> None:
        gens = dist_utils.gather_objects(self.gen.get_state())
        if not self.dist.is_main:
            return
        state = {
            "state": vars(self.state).copy(),
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.amp else None,
            "rng": {
                "torch": torch.get_rng_state(),
                "python": _to_list(random.getstate()),
                "generators": gens,
                "cuda": torch.cuda.get_rng_state() if self.device.type == "cuda" else None,
            },
            "config": self.cfg.model_dump(mode="json"),
        }
        save_checkpoint(state, self.ckpt_path)

    def _task_params(self) -> dict[str, Any]:
        """Degradation settings that define the model's ``mu`` (stored with the model)."""
        if not isinstance(self.cfg.task, str):
            return {}
        return get_task(self.cfg.task).task_params_from(self.cfg.data.train.params or {})

    def _export(self, name: str, metrics: dict[str, float] | None = None) -> Path:
        from ..models import save_model

        path = self.run_dir / name
        provenance = {
            "irsde_version": __version__,
            "trained_steps": self.state.step,
            "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "config": self.cfg.model_dump(mode="json"),
            "validation": metrics or {},
        }
        model = self.ema if self.cfg.ema.enabled else self.model
        try:
            save_model(
                model,
                path,
                sde=self.sde.spec(),
                task=self.cfg.task,
                sampler=self.cfg.sampler.model_dump(),
                provenance=provenance,
                task_params=self._task_params(),
            )
        except OSError as err:
            raise ConfigError(
                f"{path}: cannot write the model ({err.strerror or err}); "
                "the training checkpoint is kept, resume with --resume"
            ) from None
        return path

    def _finish(self, seconds: float, steps: int) -> dict[str, Any]:
        checksums = dist_utils.gather_objects(_param_checksum(self.model))
        summary: dict[str, Any] = {
            "steps": self.state.step,
            "steps_this_run": steps,
            "seconds_this_run": round(seconds, 3),
            "steps_per_s": round(steps / seconds, 4) if seconds > 0 else None,
            "nonfinite_skipped": self.state.nonfinite_total,
            "best_val_psnr": _or_none(self.state.best_psnr),
            "best_val_psnr_y": _or_none(self.state.best_psnr_y),
            "world_size": self.dist.world_size,
            "device": _device_label(self.device),
            "param_checksums": checksums,
        }
        if self.dist.is_main:
            summary["final_model"] = str(self._export("final.safetensors"))
            self.runlog.close()
            plot = plot_curves(self.run_dir / "metrics.csv", self.run_dir / "curves.png")
            summary["curves"] = str(plot) if plot else None
            (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        dist_utils.barrier()
        return summary

    def close(self) -> None:
        dist_utils.cleanup()


def _finite_mean(values: list[float]) -> float:
    """Mean of the finite values (an exact match scores ``inf`` PSNR); 0 when none."""
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / max(1, len(finite))


def _or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _device_label(device: torch.device) -> str:
    """``"NVIDIA H200"`` or ``"CPU, 2 threads"``: where the steps of this run were taken."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    n = torch.get_num_threads()
    return f"{device.type.upper()}, {n} thread{'s' if n > 1 else ''}"


def _to_list(obj: Any) -> Any:
    """Python's RNG state (nested tuples) as lists, storable with ``weights_only``."""
    return [_to_list(o) for o in obj] if isinstance(obj, tuple) else obj


def _to_tuple(obj: Any) -> Any:
    return tuple(_to_tuple(o) for o in obj) if isinstance(obj, list) else obj


def train(
    cfg: TrainConfig,
    run_dir: Path,
    *,
    resume: bool = False,
    max_steps: int | None = None,
    on_step: StepCallback | None = None,
) -> dict[str, Any]:
    """Train a model as configured; see :class:`Trainer`."""
    trainer = Trainer(cfg, run_dir, resume=resume, max_steps=max_steps)
    try:
        return trainer.run(on_step)
    finally:
        trainer.close()


__all__ = ["Trainer", "TrainingError", "ema_update", "lr_lambda", "train"]
