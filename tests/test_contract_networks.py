"""Contract of every registered network: it builds from its tiny parameters, keeps any
input size, saves, is detected from its bare state dict (and no other architecture
claims it), loads back with the same output, and works under every parametrization.
A new architecture registered in ``irsde.nets.ARCHITECTURES`` is tested here by itself."""

from __future__ import annotations

import pytest
import torch

from irsde.models import load_model, read_model_file, save_model
from irsde.nets import (
    ARCHITECTURES,
    PARAMETRIZATIONS,
    Architecture,
    build_network,
    detect_architecture,
    infer_architecture,
)

SDE = {"max_sigma": 30, "T": 50, "schedule": "cosine", "eps": 0.005}
NAMES = list(ARCHITECTURES)

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(arch: Architecture, seed: int = 0, **wrap) -> torch.nn.Module:
    """The architecture's tiny network with non-trivial weights (no zero gains)."""
    torch.manual_seed(seed)
    net = build_network(arch.name, **arch.tiny, **wrap).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return net


def call(net: torch.nn.Module) -> torch.Tensor:
    """The network on an odd-sized input (1x3x19x23), its weights in the default layout
    (``load_model`` makes them channels-last on CPU, whose kernels round differently)."""
    net = net.to(memory_format=torch.contiguous_format)
    g = torch.Generator().manual_seed(1)
    mu = torch.rand(1, 3, 19, 23, generator=g)
    x_t = mu + 0.2 * torch.randn(mu.shape, generator=g)
    with torch.inference_mode():
        return net(x_t, mu, torch.tensor([7]))


@pytest.fixture(params=NAMES)
def arch(request) -> Architecture:
    return ARCHITECTURES[request.param]


def test_registry_entries_are_complete(arch):
    assert arch.keys and arch.tiny and arch.description
    # every registered network is called net(x_t, mu, t); it reads mu iff conditional
    net = tiny(arch)
    g = torch.Generator().manual_seed(4)
    x_t, mu = torch.rand(1, 3, 12, 12, generator=g), torch.rand(1, 3, 12, 12, generator=g)
    with torch.inference_mode():
        a, b = net(x_t, mu, 7), net(x_t, mu.flip(-1), 7)
    assert ((a - b).abs().max() > 1e-4) == arch.is_conditional(net.arch_params)


def test_builds_small_and_keeps_odd_sizes(arch):
    out = call(tiny(arch))
    assert out.shape == (1, 3, 19, 23) and torch.isfinite(out).all()
    assert out.abs().max() > 1e-3


def test_arch_params_rebuild_it(arch):
    net = tiny(arch)
    again = build_network(arch.name, **net.arch_params)
    assert type(again) is type(net) is arch.cls
    assert {k: v.shape for k, v in again.state_dict().items()} == {
        k: v.shape for k, v in net.state_dict().items()
    }


def test_tiny_images_batches_and_timestep_forms(arch):
    net = tiny(arch)
    g = torch.Generator().manual_seed(2)
    with torch.inference_mode():
        small = net(torch.rand(1, 3, 3, 5, generator=g), torch.rand(1, 3, 3, 5, generator=g), 1)
        assert small.shape == (1, 3, 3, 5) and torch.isfinite(small).all()
        mu = torch.rand(1, 3, 16, 12, generator=g).expand(2, -1, -1, -1)
        x_t = mu + 0.2
        ref = net(x_t, mu, torch.tensor([20, 20]))
        for t in (20, 20.0, torch.tensor(20), torch.tensor([20])):
            torch.testing.assert_close(net(x_t, mu, t), ref)
        per_sample = net(x_t, mu, torch.tensor([20, 80]))
    torch.testing.assert_close(per_sample[0], ref[0])
    assert (per_sample[1] - ref[1]).abs().max() > 1e-4  # conditioned on t
    with pytest.raises(ValueError, match="batch"):
        net(x_t, mu, torch.tensor([1, 2, 3]))


def test_channels_last_and_training(arch):
    net = tiny(arch)
    g = torch.Generator().manual_seed(3)
    mu = torch.rand(2, 3, 16, 20, generator=g)
    x_t = mu + 0.1 * torch.randn(mu.shape, generator=g)
    with torch.no_grad():
        a = net(x_t, mu, torch.tensor([5, 9]))
        b = net.to(memory_format=torch.channels_last)(x_t, mu, torch.tensor([5, 9]))
    scale = a.abs().max().item()
    torch.testing.assert_close(a, b, atol=1e-5 * scale, rtol=1e-5)
    net.train()
    net(x_t, mu, torch.tensor([3, 4])).square().mean().backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("prefix", ["", "module."])
def test_detected_from_its_bare_state_dict(arch, prefix):
    net = tiny(arch)
    state = {prefix + k: v for k, v in net.state_dict().items()}
    bare = {k.removeprefix(prefix): v for k, v in state.items()}
    assert detect_architecture(bare) is arch
    name, params = infer_architecture(bare)
    assert name == arch.name
    assert params == {k: v for k, v in net.arch_params.items() if k in params}
    for other in ARCHITECTURES.values():
        assert other is arch or not other.detect(bare), f"{other.name} claims {arch.name}"


@pytest.mark.parametrize("prefix", ["", "module."])
def test_reference_style_checkpoint_loads(arch, prefix, tmp_path):
    net = tiny(arch)
    path = tmp_path / "ckpt.pth"
    torch.save({prefix + k: v for k, v in net.state_dict().items()}, path)
    loaded = load_model(path)
    assert loaded.irsde_config["arch"] == arch.name
    torch.testing.assert_close(call(loaded), call(net), atol=1e-6, rtol=1e-6)


def test_saves_and_loads_with_the_same_output(arch, tmp_path):
    net = tiny(arch)
    path = save_model(net, tmp_path / "m.safetensors", sde=SDE, sampler="posterior")
    loaded = load_model(path)
    cfg = loaded.irsde_config
    assert cfg["arch"] == arch.name and cfg["arch_params"] == net.arch_params
    assert cfg.parametrization == "noise"
    torch.testing.assert_close(call(loaded), call(net), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("prediction", [p for p in PARAMETRIZATIONS if p != "noise"])
def test_every_parametrization_wraps_it(arch, prediction, tmp_path):
    net = tiny(arch, prediction=prediction, sde=SDE)
    bare = build_network(arch.name, **arch.tiny)
    assert list(net.state_dict()) == list(bare.state_dict())  # keys unchanged
    bare.load_state_dict(net.state_dict())
    path = save_model(net, tmp_path / "m.safetensors", sde=SDE)
    state, cfg = read_model_file(path)
    assert set(state) == set(bare.state_dict())
    assert cfg.parametrization == prediction and cfg["arch_params"]["sde"]["type"] == "irsde"
    loaded = load_model(path)
    assert type(loaded) is type(net)
    torch.testing.assert_close(call(loaded), call(net), atol=1e-6, rtol=1e-6)
