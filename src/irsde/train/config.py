"""Training configuration: a YAML file validated by pydantic models.

Unknown keys, wrong types and missing data paths are reported as one line naming the
file and the offending key, e.g. ``smoke.yml: data.train.crop: input should be a valid
integer``. See ``configs/*.yml`` for complete examples.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ConfigError, ModelLoadError
from ..samplers import DEFAULT_SAMPLER, get_sampler
from ..sde import DEFAULT_SDE_TYPE, DEFAULT_SPACING, SPACINGS, build_sde, sde_spec
from ..seeding import MAX_SEED
from ..tasks import TASKS

#: most synthetic images per epoch (each epoch draws a permutation of this length)
MAX_LENGTH = 10_000_000
#: largest batch and training crop side
MAX_BATCH = 4096
MAX_CROP = 4096


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _one_line(err: BaseException) -> str:
    """The first line of ``err``'s message, with unencodable characters (lone
    surrogates from odd YAML keys) escaped."""
    text = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class SDEConfig(BaseModel):
    """The diffusion process: ``type`` (a name of ``irsde.sde.SDES``) and its settings.

    ``irsde.sde.build_sde`` checks them (the process's own rules) and the section holds
    the full validated spec, e.g. ``{type: irsde, max_sigma: 30, T: 100, schedule:
    cosine, eps: 0.005}``; a section without ``type`` is an IR-SDE.
    """

    model_config = ConfigDict(extra="allow", frozen=True)
    type: str = DEFAULT_SDE_TYPE

    @model_validator(mode="before")
    @classmethod
    def _through_the_registry(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data  # pydantic reports the wrong type
        try:
            return sde_spec(data)
        except (TypeError, ValueError, ArithmeticError) as err:
            raise ValueError(_one_line(err)) from None

    def spec(self) -> dict[str, Any]:
        """``{"type": ..., **settings}``, as ``irsde.sde.build_sde`` takes it."""
        return self.model_dump()


class NetworkConfig(_Strict):
    arch: str = "ConditionalNAFNet"
    params: dict[str, Any] = Field(default_factory=dict)
    #: start from these weights (a model file: .safetensors or reference .pth) to fine-tune
    init: Path | None = None
    #: ``init`` comes from a shallower network of the same widths (fewer NAF blocks per
    #: stage): its blocks fill each stage from the front and the extra ones start as
    #: identities (``irsde.nets.nafnet.grow_into``), so training starts from its function
    init_grow: bool = False


class DataSourceConfig(_Strict):
    """One dataset: ``paired`` folders (``gt`` + ``lq``) or ``synthetic`` degradations."""

    type: Literal["paired", "synthetic"] = "synthetic"
    #: synthetic: a folder of clean images, "deadleaves", or a list of both
    source: str | list[str] = "deadleaves"
    #: synthetic: fraction of dead-leaves images when sources are mixed
    deadleaves_ratio: float = Field(0.0, ge=0, le=1)
    #: synthetic: crop dead-leaves images from this many pre-drawn ones, each twice the
    #: crop size (0: draw a new one per sample; see benchmarks/data_throughput.py)
    deadleaves_bank: int = Field(0, ge=0)
    #: synthetic: fraction of clean images made gray (a gray image's noise is gray too)
    gray_fraction: float = Field(0.0, ge=0, le=1)
    gt: Path | None = None
    lq: Path | None = None
    crop: int | None = Field(128, ge=8, le=MAX_CROP)
    #: synthetic: images per epoch
    length: int = Field(1000, ge=1, le=MAX_LENGTH)
    augment: bool = True
    #: keep decoded images in memory (for small folders of large photos)
    cache: bool = False
    #: degradation parameters passed to ``irsde.degrade.degrade_for_task``
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _paths_given(self) -> DataSourceConfig:
        if self.type == "paired" and (self.gt is None or self.lq is None):
            raise ValueError("paired data needs both 'gt' and 'lq' folders")
        return self


class DataConfig(_Strict):
    train: DataSourceConfig = Field(default_factory=DataSourceConfig)
    val: DataSourceConfig | None = None
    batch_size: int = Field(4, ge=1, le=MAX_BATCH)
    num_workers: int = Field(0, ge=0, le=256)


class LossConfig(_Strict):
    #: ml: the paper's maximum-likelihood matching loss; noise: noise matching;
    #: x0: matching of the implied clean image (pair with prediction: x0 networks)
    type: Literal["ml", "noise", "x0"] = "ml"
    kind: Literal["l1", "l2"] = "l1"
    #: fraction of training samples drawn at t = T, where a 1-NFE sampler evaluates
    final_fraction: float = Field(0.0, ge=0, le=1)
    #: pixels the loss averages over: all, or (synthetic inpainting with the x0 loss) only
    #: the holes, since the restorer keeps the known pixels anyway
    region: Literal["all", "holes"] = "all"


class OptimConfig(_Strict):
    type: Literal["adam", "adamw"] = "adam"
    lr: float = Field(1e-4, gt=0)
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = (
        0.9,
        0.99,
    )
    weight_decay: float = Field(0.0, ge=0)


class LRScheduleConfig(_Strict):
    type: Literal["constant", "multistep", "cosine"] = "multistep"
    #: multistep: steps at which the LR is multiplied by gamma
    milestones: list[int] = Field(default_factory=list)
    gamma: float = Field(0.5, gt=0)
    warmup_steps: int = Field(0, ge=0)
    #: cosine: final LR as a fraction of the initial one
    min_lr_ratio: float = Field(0.0, ge=0, le=1)


class EMAConfig(_Strict):
    enabled: bool = True
    decay: float = Field(0.995, ge=0, lt=1)


class SamplerConfig(_Strict):
    #: a name of ``irsde.samplers.SAMPLERS``
    name: str = DEFAULT_SAMPLER
    steps: int | None = Field(None, ge=1)
    #: a name of ``irsde.sde.SPACINGS``
    spacing: str = DEFAULT_SPACING

    @field_validator("name")
    @classmethod
    def _registered_sampler(cls, v: str) -> str:
        get_sampler(v)  # ValueError listing the registered names
        return v

    @field_validator("spacing")
    @classmethod
    def _known_spacing(cls, v: str) -> str:
        if v not in SPACINGS:
            raise ValueError(f"unknown spacing {v!r}; choose one of {', '.join(SPACINGS)}")
        return v


class TrainLoopConfig(_Strict):
    max_steps: int = Field(700_000, ge=1)
    grad_clip: float | None = Field(None, gt=0)
    amp: bool = False
    log_every: int = Field(50, ge=1)
    val_every: int = Field(5000, ge=1)
    ckpt_every: int = Field(1000, ge=1)
    #: images restored at each validation (from the val set)
    val_images: int = Field(4, ge=1)
    val_sampler: SamplerConfig = Field(default_factory=lambda: SamplerConfig(steps=10))
    #: stop when the loss is non-finite for this many consecutive steps
    max_nonfinite: int = Field(20, ge=1)
    #: wall-clock seconds for this run: after ``calibration_steps`` the run measures its
    #: speed and lowers its step target (and the LR schedule's length) to fit the budget
    time_budget: float | None = Field(None, gt=0)
    calibration_steps: int = Field(60, ge=2)


class TrainConfig(_Strict):
    name: str = "irsde"
    #: a task, or several for one universal model (each training item draws its task)
    task: str | list[str]
    seed: int = Field(0, ge=0, le=MAX_SEED)
    #: SDE settings; default: the task's reference settings (irsde.tasks)
    sde: SDEConfig | None = None
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    lr_schedule: LRScheduleConfig = Field(default_factory=LRScheduleConfig)
    ema: EMAConfig = Field(default_factory=EMAConfig)
    train: TrainLoopConfig = Field(default_factory=TrainLoopConfig)
    #: the sampler recommended in exported model files
    sampler: SamplerConfig = Field(default_factory=lambda: SamplerConfig(steps=10))

    @field_validator("task")
    @classmethod
    def _known_task(cls, v: str | list[str]) -> str | list[str]:
        for name in [v] if isinstance(v, str) else v:
            if name not in TASKS:
                raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
        if isinstance(v, list) and (len(v) < 2 or len(set(v)) < len(v)):
            raise ValueError("a list of tasks needs two or more different names")
        return v

    @model_validator(mode="after")
    def _several_tasks_need_synthetic_data_and_an_sde(self) -> TrainConfig:
        if isinstance(self.task, list):
            if "paired" in (self.data.train.type, getattr(self.data.val, "type", None)):
                raise ValueError("several tasks need synthetic training and validation data")
            if self.sde is None and len({str(sde_spec(TASKS[t].sde)) for t in self.task}) > 1:
                raise ValueError("these tasks have different reference SDEs: set 'sde'")
        return self

    @model_validator(mode="after")
    def _network_as_a_model_file_would_hold_it(self) -> TrainConfig:
        """The rules a model file is read with (``irsde.modelconfig``), so that training
        never exports a model its own loader refuses."""
        from ..modelconfig import ModelConfig
        from ..models import check_network_params

        params = self.network_arguments()
        try:
            ModelConfig(arch=self.network.arch, arch_params=params)
            check_network_params(self.network.arch, params, "network.params")
        except (ValueError, ModelLoadError) as err:
            raise ValueError(
                f"network.{err}" if isinstance(err, ValueError) else str(err)
            ) from None
        return self

    @model_validator(mode="after")
    def _degradations_run(self) -> TrainConfig:
        """Synthesize one tiny degradation per task with each data section's ``params``."""
        import numpy as np

        from ..data.datasets import params_per_task

        tasks = [self.task] if isinstance(self.task, str) else self.task
        img = np.random.default_rng(0).random((32, 32, 3), dtype=np.float32)
        for where, src in (("data.train", self.data.train), ("data.val", self.data.val)):
            if src is None or src.type != "synthetic":
                continue
            try:
                per_task = params_per_task(tasks, src.params)
                for task, params in per_task.items():
                    TASKS[task].synthesize(img, np.random.default_rng(0), **params)
            except (TypeError, ValueError, ArithmeticError, ConfigError, IndexError) as err:
                raise ValueError(f"{where}.params: {_one_line(err)}") from None
        return self

    @model_validator(mode="after")
    def _samplers_run_on_the_sde(self) -> TrainConfig:
        sde = build_sde(self.sde_settings())
        for where, sampler in (
            ("sampler", self.sampler),
            ("train.val_sampler", self.train.val_sampler),
        ):
            if not get_sampler(sampler.name).supports(sde):
                raise ValueError(
                    f"{where}: the {sampler.name} sampler cannot run on the {sde.type} SDE"
                )
            try:
                sde.timesteps(sampler.steps, sampler.spacing)
            except ValueError as err:
                raise ValueError(f"{where}.steps: {err}") from None
        return self

    @model_validator(mode="after")
    def _hole_loss_needs_masks(self) -> TrainConfig:
        if self.loss.region == "holes" and not (
            self.task == "inpaint"
            and self.loss.type == "x0"
            and self.data.train.type == "synthetic"
        ):
            raise ValueError(
                "loss.region 'holes' needs task inpaint, loss.type x0 and synthetic training data"
            )
        return self

    def sde_settings(self) -> dict[str, Any]:
        """The SDE's spec for ``irsde.sde.build_sde`` (with its ``type``): explicit, else
        the task's reference settings."""
        if self.sde is not None:
            return self.sde.spec()
        first = self.task if isinstance(self.task, str) else self.task[0]
        return sde_spec(TASKS[first].sde)

    def network_arguments(self) -> dict[str, Any]:
        """The network's constructor arguments: a network predicting anything but the
        noise gets the run's SDE (its parametrization needs it)."""
        params = dict(self.network.params)
        if params.get("prediction", "noise") != "noise":
            params.setdefault("sde", self.sde_settings())
        return params


def _format_error(path: str, err: ValidationError) -> str:
    """``PATH: KEY: problem``; a check across keys names its keys in its message."""
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    cause = first.get("ctx", {}).get("error")
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif first["type"] == "value_error" and cause is not None:  # a validator's own words
        msg = str(cause)
    else:
        msg = first["msg"][0].lower() + first["msg"][1:]
        loc = loc or "(top level)"
    more = f" (and {err.error_count() - 1} more problems)" if err.error_count() > 1 else ""
    return f"{path}: {loc + ': ' if loc else ''}{msg}{more}"


def _resolve_paths(cfg: TrainConfig, base: Path) -> TrainConfig:
    """Make data paths relative to the config file's folder absolute and check they exist."""

    def fix(src: DataSourceConfig | None, where: str) -> DataSourceConfig | None:
        if src is None:
            return None
        updates: dict[str, Any] = {}
        for key in ("gt", "lq"):
            p = getattr(src, key)
            if p is not None:
                p = p if p.is_absolute() else base / p
                if not p.is_dir():
                    raise ConfigError(f"data.{where}.{key}: folder not found: {p}")
                updates[key] = p
        sources = [src.source] if isinstance(src.source, str) else list(src.source)
        resolved = []
        for s in sources:
            if s == "deadleaves":
                resolved.append(s)
                continue
            p = Path(s) if Path(s).is_absolute() else base / s
            if not p.is_dir():
                raise ConfigError(f"data.{where}.source: folder not found: {p}")
            resolved.append(str(p))
        if src.type == "synthetic":
            updates["source"] = resolved[0] if isinstance(src.source, str) else resolved
        return src.model_copy(update=updates)

    data = cfg.data.model_copy(
        update={"train": fix(cfg.data.train, "train"), "val": fix(cfg.data.val, "val")}
    )
    network = cfg.network
    if network.init is not None:
        init = network.init if network.init.is_absolute() else base / network.init
        if not init.is_file():
            raise ConfigError(f"network.init: model file not found: {init}")
        network = network.model_copy(update={"init": init})
    return cfg.model_copy(update={"data": data, "network": network})


def parse_config(
    raw: dict[str, Any], source: str = "<config>", base: Path | None = None
) -> TrainConfig:
    """Validate a config mapping; paths are resolved against ``base`` when given."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of settings at the top level")
    try:
        cfg = TrainConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_format_error(source, err)) from None
    if base is not None:
        try:
            cfg = _resolve_paths(cfg, base)
        except ConfigError as err:
            raise ConfigError(f"{source}: {err}") from None
    return cfg


#: most values a config may hold once YAML aliases are expanded: anchors for shared
#: settings are fine, an alias bomb (aliases of aliases, exponential) is refused
MAX_CONFIG_VALUES = 100_000


def _too_large(obj: Any, limit: int = MAX_CONFIG_VALUES) -> bool:
    """Whether ``obj`` holds more than ``limit`` values with shared references expanded
    (stops counting at the limit, so a bomb costs no more than ``limit`` steps)."""
    stack, seen = [obj], 0
    while stack:
        seen += 1
        if seen > limit:
            return True
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def load_config(path: str | Path) -> TrainConfig:
    """Read and validate a YAML training config."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read config ({err})") from None
    try:
        raw = yaml.safe_load(text)
    except RecursionError:
        raise ConfigError(f"{path}: invalid YAML: nested too deeply") from None
    except ValueError as err:  # e.g. an integer of more digits than Python converts
        raise ConfigError(f"{path}: invalid YAML: {_one_line(err)}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = str(getattr(err, "problem", None) or err).strip().splitlines() or ["?"]
        raise ConfigError(f"{path}: invalid YAML{where}: {problem[0]}") from None
    if _too_large(raw):
        raise ConfigError(
            f"{path}: more than {MAX_CONFIG_VALUES:,} values once its aliases are expanded"
        )
    return parse_config(raw or {}, str(path), path.parent)
