"""Makes tests/data/reference_{nafnets,unets}.safetensors by running the reference networks.

Copy the reference's module_util.py, DenoisingNAFNet_arch.py and DenoisingUNet_arch.py of
codes/config/deraining and codes/config/denoising-sde to /tmp/hf/refnets/{deraining,denoising_sde}/
(with empty __init__.py files; never into this repository), `pip install --target /tmp/pydeps
einops`, then: python tests/data/make_reference_networks.py tests/data
"""

import sys

import torch

sys.path.insert(0, "/tmp/hf")
sys.path.insert(0, "/tmp/pydeps")
from refnets.denoising_sde import DenoisingNAFNet_arch as SN
from refnets.denoising_sde import DenoisingUNet_arch as SU
from refnets.deraining import DenoisingNAFNet_arch as DN
from refnets.deraining import DenoisingUNet_arch as DU
from safetensors.torch import save_file


def perturb(net, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith(".g") or name.endswith("beta") or name.endswith("gamma"):
                p.copy_(1.0 * (name.endswith(".g")) + 0.5 * torch.randn(p.shape, generator=g))
            else:
                p.add_(0.05 * torch.randn(p.shape, generator=g))
    return net.eval()


torch.manual_seed(0)  # the networks' default initialisation
nets = {
    "refusion": (
        perturb(
            DN.ConditionalNAFNet(
                img_channel=3, width=8, middle_blk_num=2, enc_blk_nums=[1, 2], dec_blk_nums=[2, 1]
            ),
            1,
        ),
        True,
    ),
    "refusion_uncond": (
        perturb(
            SN.ConditionalNAFNet(
                img_channel=3, width=8, middle_blk_num=1, enc_blk_nums=[2, 1], dec_blk_nums=[1, 1]
            ),
            2,
        ),
        False,
    ),
    "unet_uncond": (perturb(SU.ConditionalUNet(in_nc=3, out_nc=3, nf=4, depth=2), 3), False),
    "unet": (perturb(DU.ConditionalUNet(in_nc=3, out_nc=3, nf=4, depth=2), 4), True),
}
g = torch.Generator().manual_seed(0)
out, meta = {}, {}
for name, (net, cond) in nets.items():
    for k, v in net.state_dict().items():
        out[f"{name}/state/{k}"] = v.contiguous()
    for case, (shape, ts) in enumerate(
        (((1, 3, 19, 23), [7]), ((2, 3, 13, 30), [1, 600]), ((1, 3, 8, 8), [999]))
    ):
        mu = torch.rand(shape, generator=g)
        x = mu + 0.3 * torch.randn(shape, generator=g)
        t = torch.tensor(ts)
        with torch.no_grad():
            y = net(x, mu, t) if cond else net(x, t)
        out[f"{name}/case{case}/x"] = x
        out[f"{name}/case{case}/mu"] = mu
        out[f"{name}/case{case}/t"] = t
        out[f"{name}/case{case}/out"] = y.contiguous()
    meta[name] = str(sum(p.numel() for p in net.parameters()))
md = {
    "made_by": "running Algolzw/image-restoration-sde network code (deraining and denoising-sde DenoisingNAFNet_arch/DenoisingUNet_arch), /tmp/hf/make_net_fixture.py"
}
for kind in ("nafnets", "unets"):
    names = [n for n in nets if (n.startswith("unet")) == (kind == "unets")]
    part = {k: v for k, v in out.items() if k.split("/")[0] in names}
    save_file(part, f"{sys.argv[1]}/reference_{kind}.safetensors", metadata=md)
print(meta)
