"""Networks: the reference U-Net's exact keys and forward pass, the NAFNet, shapes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from irsde.nets import NETWORKS, ConditionalNAFNet, ConditionalUNet, build_network
from irsde.nets.common import count_parameters, sinusoidal_embedding

KEYS_JSON = Path(__file__).resolve().parents[2] / "shared" / "specs" / "official-unet-keys.json"
REFERENCE_PARAMS = 137_147_523

#: the two networks tested here in detail (every registered one: test_contract_networks)
TINY = {
    "ConditionalUNet": {"nf": 8, "depth": 3},
    "ConditionalNAFNet": {
        "width": 8,
        "enc_blocks": [1, 2],
        "middle_blocks": 1,
        "dec_blocks": [1, 1],
    },
}


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(arch: str, seed: int = 0) -> torch.nn.Module:
    """A tiny network with non-trivial weights (NAFNet's zero-initialised gains set)."""
    torch.manual_seed(seed)
    net = build_network(arch, **TINY[arch]).eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith(("beta", "gamma")):
                p.normal_(0, 0.5)
    return net


def images(b: int, h: int, w: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    mu = torch.rand(b, 3, h, w, generator=g)
    return mu + 0.1 * torch.randn(b, 3, h, w, generator=g), mu


# ------------------------------------------------------------- reference U-Net layout
def test_unet_has_the_reference_keys_shapes_and_size():
    with torch.device("meta"):
        net = ConditionalUNet(in_nc=3, out_nc=3, nf=64, depth=4)
    shapes = {k: list(v.shape) for k, v in net.state_dict().items()}
    assert count_parameters(net) == REFERENCE_PARAMS
    assert len(shapes) == 151
    assert shapes["ups.0.3.1.weight"] == [512, 1024, 3, 3]
    assert shapes["downs.3.3.weight"] == [1024, 512, 3, 3]
    if not KEYS_JSON.exists():
        pytest.skip(f"{KEYS_JSON} not available")
    spec = json.loads(KEYS_JSON.read_text())
    assert spec["params"] == REFERENCE_PARAMS
    assert shapes == spec["keys"]


def test_arch_params_rebuild_the_same_network():
    assert set(TINY) <= set(NETWORKS)
    for arch in TINY:
        net = tiny(arch)
        again = build_network(arch, **net.arch_params)
        assert type(again) is type(net)
        assert {k: v.shape for k, v in again.state_dict().items()} == {
            k: v.shape for k, v in net.state_dict().items()
        }
    with pytest.raises(ValueError, match="unknown architecture"):
        build_network("ResNet50")


def test_sinusoidal_embedding_formula():
    t = torch.tensor([0.0, 3.0, 250.0])
    emb = sinusoidal_embedding(t, 8)
    freqs = [math.exp(-math.log(10000) * i / 3) for i in range(4)]
    expected = [
        [math.sin(v * f) for f in freqs] + [math.cos(v * f) for f in freqs] for v in t.tolist()
    ]
    assert torch.allclose(emb, torch.tensor(expected), atol=1e-5)


# ------------------------------------------- independent functional re-implementation
def _layer_norm(x, g, eps=1e-5):
    mean = x.mean(dim=1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * g


def _resblock(sd, p, x, e):
    scale_shift = F.linear(F.silu(e), sd[p + "mlp.1.weight"], sd[p + "mlp.1.bias"])
    scale, shift = scale_shift[:, :, None, None].chunk(2, dim=1)
    h = F.conv2d(x, sd[p + "block1.proj.weight"], padding=1)
    h = F.silu(h * (scale + 1) + shift)
    h = F.silu(F.conv2d(h, sd[p + "block2.proj.weight"], padding=1))
    res = F.conv2d(x, sd[p + "res_conv.weight"]) if p + "res_conv.weight" in sd else x
    return h + res


def _attention(sd, p, x):
    b, _, hh, ww = x.shape
    n = hh * ww
    xn = _layer_norm(x, sd[p + "fn.norm.g"])
    q, k, v = F.conv2d(xn, sd[p + "fn.fn.to_qkv.weight"]).chunk(3, dim=1)
    q, k, v = (z.reshape(b, 4, 32, n) for z in (q, k, v))
    q = q.softmax(dim=2) * 32**-0.5
    k = k.softmax(dim=3)
    v = v / n
    context = torch.einsum("bhdn,bhen->bhde", k, v)
    out = torch.einsum("bhde,bhdn->bhen", context, q).reshape(b, 128, hh, ww)
    out = F.conv2d(out, sd[p + "fn.fn.to_out.0.weight"], sd[p + "fn.fn.to_out.0.bias"])
    return _layer_norm(out, sd[p + "fn.fn.to_out.1.g"]) + x


def reference_forward(sd, x_t, mu, t, nf, depth):
    """The forward pass of official-network.md, on a plain state_dict."""
    h, w = x_t.shape[-2:]
    m = 2**depth
    x = torch.cat([x_t - mu, mu], dim=1)
    x = F.pad(x, (0, (m - w % m) % m, 0, (m - h % m) % m), mode="reflect")
    x = F.conv2d(x, sd["init_conv.weight"], padding=3)
    r = x.clone()
    half = nf // 2
    freqs = torch.exp(torch.arange(half) * -(math.log(10000) / (half - 1)))
    args = t.float()[:, None] * freqs[None]
    e = torch.cat([args.sin(), args.cos()], dim=1)
    e = F.linear(
        F.gelu(F.linear(e, sd["time_mlp.1.weight"], sd["time_mlp.1.bias"])),
        sd["time_mlp.3.weight"],
        sd["time_mlp.3.bias"],
    )
    stack = []
    for i in range(depth):
        p = f"downs.{i}."
        x = _resblock(sd, p + "0.", x, e)
        stack.append(x)
        x = _attention(sd, p + "2.", _resblock(sd, p + "1.", x, e))
        stack.append(x)
        if i < depth - 1:
            x = F.conv2d(x, sd[p + "3.weight"], sd[p + "3.bias"], stride=2, padding=1)
        else:
            x = F.conv2d(x, sd[p + "3.weight"], padding=1)
    x = _resblock(sd, "mid_block1.", x, e)
    x = _attention(sd, "mid_attn.", x)
    x = _resblock(sd, "mid_block2.", x, e)
    for j in range(depth):
        p = f"ups.{j}."
        x = _resblock(sd, p + "0.", torch.cat([x, stack.pop()], dim=1), e)
        x = _resblock(sd, p + "1.", torch.cat([x, stack.pop()], dim=1), e)
        x = _attention(sd, p + "2.", x)
        if j < depth - 1:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = F.conv2d(x, sd[p + "3.1.weight"], sd[p + "3.1.bias"], padding=1)
        else:
            x = F.conv2d(x, sd[p + "3.weight"], padding=1)
    x = _resblock(sd, "final_res_block.", torch.cat([x, r], dim=1), e)
    x = F.conv2d(x, sd["final_conv.weight"], sd["final_conv.bias"], padding=1)
    return x[..., :h, :w]


@pytest.mark.parametrize("channels_last", [False, True])
def test_unet_matches_the_functional_reference(channels_last):
    net = tiny("ConditionalUNet", seed=3)
    sd = {k: v.clone() for k, v in net.state_dict().items()}
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    x_t, mu = images(2, 19, 27)
    t = torch.tensor([7, 93])
    with torch.inference_mode():
        got = net(x_t, mu, t)
        want = reference_forward(sd, x_t, mu, t, nf=8, depth=3)
    assert got.shape == want.shape == (2, 3, 19, 27)
    assert want.abs().max() > 1e-2  # a non-trivial output
    assert (got - want).abs().max().item() <= 1e-5


# ------------------------------------------------------------------ both networks
@pytest.mark.parametrize("arch", list(TINY))
def test_odd_sizes_are_padded_and_cropped_back(arch):
    net = tiny(arch)
    x_t, mu = images(1, 37, 53)
    with torch.inference_mode():
        out = net(x_t, mu, 10)
        mult = 2 ** (net.arch_params.get("depth") or len(net.arch_params["enc_blocks"]))
        ph, pw = (-37) % mult, (-53) % mult
        padded = net(
            F.pad(x_t, (0, pw, 0, ph), mode="reflect"),
            F.pad(mu, (0, pw, 0, ph), mode="reflect"),
            10,
        )
    assert out.shape == (1, 3, 37, 53)
    assert padded.shape == (1, 3, 37 + ph, 53 + pw)
    torch.testing.assert_close(out, padded[..., :37, :53], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arch", list(TINY))
def test_tiny_images_work(arch):
    net = tiny(arch)
    x_t, mu = images(1, 3, 5)
    with torch.inference_mode():
        out = net(x_t, mu, 1)
    assert out.shape == (1, 3, 3, 5) and torch.isfinite(out).all()


@pytest.mark.parametrize("arch", list(TINY))
def test_timestep_forms_agree_and_condition_the_output(arch):
    net = tiny(arch)
    x_t, mu = images(2, 16, 16)
    x_t, mu = x_t[:1].expand(2, -1, -1, -1), mu[:1].expand(2, -1, -1, -1)
    with torch.inference_mode():
        ref = net(x_t, mu, torch.tensor([20, 20]))
        for t in (20, 20.0, torch.tensor(20), torch.tensor([20])):
            torch.testing.assert_close(net(x_t, mu, t), ref)
        per_sample = net(x_t, mu, torch.tensor([20, 80]))
    torch.testing.assert_close(per_sample[0], ref[0])
    assert (per_sample[1] - ref[1]).abs().max() > 1e-4
    with pytest.raises(ValueError, match="batch"):
        net(x_t, mu, torch.tensor([1, 2, 3]))


@pytest.mark.parametrize("arch", list(TINY))
def test_channels_last_gives_the_same_result(arch):
    net = tiny(arch)
    x_t, mu = images(2, 24, 20)
    with torch.inference_mode():
        a = net(x_t, mu, torch.tensor([5, 9]))
        b = net.to(memory_format=torch.channels_last)(x_t, mu, torch.tensor([5, 9]))
    assert b.is_contiguous()
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arch", list(TINY))
def test_networks_train(arch):
    net = tiny(arch).train()
    x_t, mu = images(2, 16, 16)
    loss = net(x_t, mu, torch.tensor([3, 4])).square().mean()
    loss.backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0


def test_nafnet_is_small_and_batch_one_folding_matches_batches():
    net = ConditionalNAFNet()
    assert 0.5e6 <= count_parameters(net) <= 2e6
    small = tiny("ConditionalNAFNet")
    x_t, mu = images(2, 16, 16)
    with torch.inference_mode():
        both = small(x_t, mu, torch.tensor([5, 60]))
        one = small(x_t[1:], mu[1:], 60)
    torch.testing.assert_close(one, both[1:], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError):
        ConditionalNAFNet(enc_blocks=[1, 1], dec_blocks=[1])


def test_grow_into_rejects_an_extra_block_that_is_not_an_identity():
    from irsde.nets.nafnet import grow_into

    small = ConditionalNAFNet(width=8, enc_blocks=[1], middle_blocks=1, dec_blocks=[1])
    big = ConditionalNAFNet(width=8, enc_blocks=[1], middle_blocks=2, dec_blocks=[1])
    with torch.no_grad():
        big.middle_blks[1].gamma.fill_(0.5)
    with pytest.raises(ValueError, match=r"middle_blks\.1 would not start as an identity"):
        grow_into(big, small.state_dict())
    assert grow_into(big, big.state_dict()) == 0
