"""The :class:`Task` interface, the registry of tasks and the reference SDE settings.

A task holds everything one restoration problem means: the SDE settings of the
reference implementation (a reference ``.pth`` checkpoint carries none; models trained
by this toolkit store their own), the output/input scale, the degradation parameters
and their synthesis, how the network input ``mu`` is made from a user's input and what
is kept from it afterwards, the benchmark settings and the classical baselines.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..degrade import Degraded, check_image, draw_param, is_gray
from ..errors import ConfigError, UsageError

#: the registered tasks by name, in registration order (filled by :func:`register_task`)
TASKS: dict[str, Task] = {}


def reference_sde(max_sigma: float, T: int = 100) -> dict[str, Any]:
    """IR-SDE settings of the reference implementation (cosine schedule, ``eps = 0.005``).

    Without a ``"type"`` key, as a model's ``irsde_config["sde"]`` shows IR-SDE settings;
    :func:`~irsde.sde.build_sde` reads them as IR-SDE.
    """
    return {"max_sigma": max_sigma, "T": T, "schedule": "cosine", "eps": 0.005}


#: reference SDE settings used when neither a model nor a task says otherwise
DEFAULT_SDE: dict[str, Any] = reference_sde(10)


@dataclass(frozen=True, eq=False)
class Task:
    """One restoration task; subclasses implement :meth:`degrade` (the synthesis).

    Attributes:
        name: the registry name (``irsde restore --task NAME``).
        description: one line for help texts and lists.
        sde: reference SDE settings, ``build_sde(task.sde)`` (``"type"`` only for a process other than IR-SDE).
        params: default degradation parameters: a value is fixed, a pair ``(low, high)``
            is drawn uniformly per image, ``{"log_uniform": (low, high)}`` with a uniform
            logarithm, a tuple of names is a random choice.
        scale: output / input size ratio (4 for x4 super-resolution, else 1).
        int_params: the names of ``params`` that are integers.
        model_params: the names of ``params`` that define the network input ``mu`` and
            are stored with a trained model as its ``task_params``.
        uses_mask: whether a user's input comes with a hole mask (white = missing).
        variants: fixed degradation settings benchmarks report, by name (``""``: the
            default ranges); values are passed to :meth:`synthesize` unless the task
            overrides :meth:`degrade_variant`.
        curve_variant: the variant of the quality-vs-NFE curves.
        baselines: classical methods (:mod:`irsde.classical`), the reported one first.
    """

    name: str
    description: str
    sde: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)
    scale: int = 1
    int_params: frozenset[str] = frozenset()
    model_params: tuple[str, ...] = ()
    uses_mask: bool = False
    variants: dict[str, dict[str, Any]] = field(default_factory=lambda: {"": {}})
    curve_variant: str = ""
    baselines: tuple[str, ...] = ()

    # ------------------------------------------------------------- synthesis
    def check_params(self, params: Mapping[str, Any]) -> None:
        """Raise :class:`ConfigError` naming any of ``params`` this task does not know."""
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            raise ConfigError(
                f"unknown degradation parameter(s) for {self.name}: {', '.join(unknown)}"
                f" (valid: {', '.join(self.params)})"
            )

    def draw_params(self, rng: np.random.Generator, params: Mapping[str, Any]) -> dict[str, Any]:
        """The defaults updated by ``params``, each drawn once (:func:`draw_param`)."""
        self.check_params(params)
        spec = {**self.params, **params}
        return {k: draw_param(k, v, rng, integer=k in self.int_params) for k, v in spec.items()}

    def synthesize(self, img: np.ndarray, rng: np.random.Generator, **params: Any) -> Degraded:
        """Degrade a clean ``H x W x C`` image; ``mu`` is float32 in ``[0, 1]``.

        A gray image (equal channels) stays gray.
        """
        img = check_image(img)
        p = self.draw_params(rng, params)
        out = self.degrade(img, rng, p, is_gray(img))
        out.mu = np.clip(out.mu, 0.0, 1.0).astype(np.float32, copy=False)
        return out

    def degrade(
        self, img: np.ndarray, rng: np.random.Generator, p: dict[str, Any], gray: bool
    ) -> Degraded:
        """The degradation of ``img`` with the drawn parameters ``p`` (``gray``: equal
        channels); ``mu`` is clipped by :meth:`synthesize`."""
        raise NotImplementedError(f"task {self.name!r} cannot synthesize degradations")

    def task_params_from(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The training degradation ``params`` a model stores as its ``task_params``."""
        return {k: params[k] for k in self.model_params if k in params}

    # ------------------------------------------------------------ benchmarks
    def variant_settings(self, variant: str) -> dict[str, Any]:
        """The settings of benchmark ``variant`` (``""``: the default ranges)."""
        if variant == "":
            return {}
        if variant not in self.variants:
            raise UsageError(
                f"unknown variant {variant!r} for {self.name}; choose one of "
                f"{', '.join(repr(v) for v in self.variants)}"
            )
        return dict(self.variants[variant])

    def degrade_variant(
        self, gt: np.ndarray, rng: np.random.Generator, variant: str = ""
    ) -> tuple[np.ndarray, Degraded]:
        """``(ground truth, degraded input)`` of benchmark setting ``variant``."""
        return gt, self.synthesize(gt, rng, **self.variant_settings(variant))

    # ------------------------------------------------------------- inference
    def check_task_params(self, task_params: Mapping[str, Any]) -> None:
        """Raise :class:`ConfigError` for a model's ``task_params`` this task cannot use."""

    def holes(self, rgb: np.ndarray, mask: Any = None) -> np.ndarray | None:
        """The missing pixels of ``rgb`` (``H x W`` bool) for a task that uses a mask."""
        reject_mask(mask)
        return None

    def network_input(
        self,
        rgb: np.ndarray,
        mask: Any = None,
        task_params: Mapping[str, Any] | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``mu`` for the network from a user's ``H x W x 3`` float input, and the map
        of known pixels that :meth:`postprocess` keeps (None: nothing is kept)."""
        reject_mask(mask)
        return rgb, None

    def postprocess(
        self, restored: np.ndarray, rgb: np.ndarray, known: np.ndarray | None
    ) -> np.ndarray:
        """The restored image with the ``known`` pixels of the input ``rgb`` put back."""
        if known is not None:
            restored[known] = rgb[known]
        return restored


#: pre/post-processing for a network of no known task: the input is ``mu`` as it is
NO_TASK = Task("", "no task: the input is the network input", DEFAULT_SDE)


def reject_mask(mask: Any) -> None:
    """A :class:`UsageError` when a mask is given to a task that uses none."""
    if mask is not None:
        names = ", ".join(n for n, t in TASKS.items() if t.uses_mask)
        raise UsageError(f"a mask is only used with the {names} task")


def register_task(task: Task) -> Task:
    """Add ``task`` to :data:`TASKS` under its name; returns it."""
    if task.name in TASKS:
        raise ValueError(f"a task called {task.name!r} is registered already")
    TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    """The task called ``name``, or a :class:`UsageError` listing the valid names."""
    try:
        return TASKS[name]
    except KeyError:
        raise UsageError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}") from None
