"""What a network's output means, as wrappers any network can use (k-diffusion's Denoisers).

Samplers call every network as ``net(x_t, mu, t) -> noise``. A network trained to
predict something else is wrapped so that the call convention holds:
:class:`X0Parametrization` takes the output as the clean image, a residual over ``mu``,
and converts it to the equivalent noise with the SDE's closed form. Predicting ``x0`` is
better conditioned at large ``t`` (the noise parametrization divides by
``exp(-thetabar_t)``, e.g. 1/200 at ``T`` for IR-SDE) and suits few-step sampling.

A wrapper's ``state_dict`` is the wrapped network's, with the same keys, so model files
and checkpoints do not depend on the parametrization.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from torch import Tensor, nn

from ..sde import SDE, build_sde
from .common import Timestep, timesteps_for_batch

#: the parametrization of a bare network: its output is the noise
NOISE = "noise"
_INNER = "net."


class Parametrization(nn.Module):
    """A network ``net`` whose output is converted to the noise with ``sde``.

    ``arch_params`` are ``net``'s plus ``prediction`` (:attr:`name`) and ``sde`` (its
    spec), which is what :func:`irsde.nets.build_network` takes to rebuild it.
    """

    name: ClassVar[str]

    def __init__(self, net: nn.Module, sde: SDE | Mapping[str, Any]) -> None:
        super().__init__()
        self.net = net
        self.sde = build_sde(sde)
        self.arch_params = {**net.arch_params, "prediction": self.name, "sde": self.sde.spec()}
        # torch>=2.1 offers these hooks under their private names only
        self._register_state_dict_hook(_drop_inner_prefix)
        self._register_load_state_dict_pre_hook(_add_inner_prefix)


class X0Parametrization(Parametrization):
    """``net`` predicts ``x0 - mu``; called as ``net(x_t, mu, t) -> noise``."""

    name = "x0"

    def forward(self, x_t: Tensor, mu: Tensor, t: Timestep) -> Tensor:
        t = timesteps_for_batch(t, x_t.shape[0], x_t.device)
        x0_hat = mu + self.net(x_t, mu, t).to(mu.dtype)
        return self.sde.noise_from_x0(x_t, x0_hat, mu, t)


#: parametrization name -> wrapper (None: the network predicts the noise itself)
PARAMETRIZATIONS: dict[str, type[Parametrization] | None] = {
    NOISE: None,
    X0Parametrization.name: X0Parametrization,
}


def parametrize(
    net: nn.Module, prediction: str = NOISE, sde: SDE | Mapping[str, Any] | None = None
) -> nn.Module:
    """``net`` wrapped for ``prediction`` (one of :data:`PARAMETRIZATIONS`).

    Raises:
        ValueError: unknown ``prediction``, or ``sde`` missing or superfluous.
    """
    if prediction not in PARAMETRIZATIONS:
        choices = ", ".join(repr(p) for p in PARAMETRIZATIONS)
        raise ValueError(f"prediction must be one of {choices}, got {prediction!r}")
    wrapper = PARAMETRIZATIONS[prediction]
    if wrapper is None:
        if sde is not None:
            raise ValueError(f"sde settings are not used with prediction={prediction!r}")
        return net
    if not sde:
        raise ValueError(f"prediction={prediction!r} needs the SDE settings (sde={{...}})")
    return wrapper(net, sde)


def unwrap(net: nn.Module) -> nn.Module:
    """The bare network inside a :class:`Parametrization` (else ``net`` itself)."""
    return net.net if isinstance(net, Parametrization) else net


def prediction_of(net: nn.Module) -> str:
    """The parametrization name of ``net``."""
    return net.name if isinstance(net, Parametrization) else NOISE


def _drop_inner_prefix(
    module: nn.Module, state: dict[str, Any], prefix: str, local_metadata: Any
) -> None:
    """State-dict hook: ``<prefix>net.<key>`` saved as ``<prefix><key>`` (order kept)."""
    inner = prefix + _INNER
    for key in [k for k in state if k.startswith(inner)]:
        state[prefix + key[len(inner) :]] = state.pop(key)


def _add_inner_prefix(state: dict[str, Any], prefix: str, *args: Any) -> None:
    """Load pre-hook: ``<prefix><key>`` loaded into ``<prefix>net.<key>``."""
    for key in [k for k in state if k.startswith(prefix)]:
        state[prefix + _INNER + key[len(prefix) :]] = state.pop(key)
