"""Forward-pass speed and peak memory of the irsde networks.

Each configuration (architecture x size x memory format) runs in a fresh subprocess so
that its peak memory is its own: CUDA ``max_memory_allocated`` on GPU, the growth of
``ru_maxrss`` during the forward passes on CPU. Times are medians after warm-up.

    python benchmarks/bench_forward.py --arch unet nafnet --sizes 256 512 --threads 2 \
        --repeat 3 --memory-format both --json bench.json

``--vs-reference`` instead times irsde's networks (channels-last, as ``load_model`` runs
them on CPU) side by side in one process against the reference's forward pass (written
below from ``official-network.md``: einops attention, contiguous float32) on the same
random weights, and checks that the outputs agree within 1e-4:

    python benchmarks/bench_forward.py --vs-reference --nf 64 32 --sizes 256 512 \
        --threads 2 --repeat 3 --json vs_reference.json
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

ARCHS = {
    # the reference network (nf=64, depth=4, 137 M parameters)
    "unet": ("ConditionalUNet", {"nf": 64, "depth": 4}),
    # the default small NAFNet
    "nafnet": ("ConditionalNAFNet", {}),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", nargs="+", default=list(ARCHS), choices=list(ARCHS))
    p.add_argument("--params", default="{}", help="JSON overrides of the architecture params")
    p.add_argument("--sizes", nargs="+", type=int, default=[256, 512])
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    p.add_argument("--repeat", type=int, default=3, help="timed forward passes")
    p.add_argument("--warmup", type=int, default=1, help="untimed forward passes first")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument(
        "--memory-format", choices=["contiguous", "channels_last", "both"], default="contiguous"
    )
    p.add_argument("--json", metavar="OUT", help="write the results to this JSON file")
    p.add_argument(
        "--vs-reference", action="store_true", help="time against the reference forward (CPU)"
    )
    p.add_argument("--nf", nargs="+", type=int, default=[64, 32], help="U-Net widths to compare")
    p.add_argument("--bf16", action="store_true", help="also time irsde in bfloat16 autocast")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _rss_bytes() -> int:
    # ru_maxrss is in KiB on Linux (bytes on macOS)
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def run_one(arch: str, size: int, args: argparse.Namespace, channels_last: bool) -> dict:
    """Measure one configuration in this process (called in the worker subprocess)."""
    import torch

    from irsde.nets import build_network, count_parameters

    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    name, params = ARCHS[arch]
    params = {**params, **json.loads(args.params)}
    net = build_network(name, **params).to(device).eval()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(memory_format=fmt)
    gen = torch.Generator().manual_seed(0)
    mu = torch.rand(1, 3, size, size, generator=gen).to(device, memory_format=fmt)
    x_t = (mu + 0.05 * torch.randn(mu.shape, generator=gen).to(device)).to(memory_format=fmt)
    t = torch.tensor([50], device=device)

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    times = []
    with torch.inference_mode():
        rss0 = _rss_bytes()
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        for i in range(args.warmup + args.repeat):
            sync()
            start = time.perf_counter()
            net(x_t, mu, t)
            sync()
            if i >= args.warmup:
                times.append(time.perf_counter() - start)
    if device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated() - base
        peak_kind = "cuda_max_allocated"
    else:
        peak = _rss_bytes() - rss0
        peak_kind = "ru_maxrss_delta"
    return {
        "arch": name,
        "arch_params": net.arch_params,
        "params": count_parameters(net),
        "size": size,
        "device": device,
        "threads": torch.get_num_threads(),
        "memory_format": "channels_last" if channels_last else "contiguous",
        "repeat": args.repeat,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "peak_mem_mb": peak / 2**20,
        "peak_mem_kind": peak_kind,
    }


def spawn(arch: str, size: int, fmt: str, argv: list[str]) -> dict:
    """Run one configuration in a fresh Python process and return its result."""
    cmd = [sys.executable, __file__, *argv, "--worker", "--arch", arch, "--sizes", str(size)]
    cmd += ["--memory-format", fmt]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {
            "arch": arch,
            "size": size,
            "memory_format": fmt,
            "error": out.stderr.strip()[-500:],
        }
    return json.loads(out.stdout.strip().splitlines()[-1])


def _strip(argv: list[str]) -> list[str]:
    """The command line minus the options each worker gets its own value for."""
    out, skip = [], False
    for a in argv:
        if a in ("--arch", "--sizes", "--memory-format", "--json"):
            skip = True
            continue
        if skip and not a.startswith("--"):
            continue
        skip = False
        out.append(a)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.vs_reference:
        return main_vs_reference(args)
    if args.worker:
        fmt = args.memory_format == "channels_last"
        print(json.dumps(run_one(args.arch[0], args.sizes[0], args, fmt)))
        return 0
    fmts = ["contiguous", "channels_last"] if args.memory_format == "both" else [args.memory_format]
    base = _strip(argv)
    results = []
    print(f"{'arch':<18} {'params':>11} {'size':>5} {'format':<14} {'median s':>9} {'peak MiB':>9}")
    for arch in args.arch:
        for size in args.sizes:
            for fmt in fmts:
                r = spawn(arch, size, fmt, base)
                results.append(r)
                if "error" in r:
                    print(f"{arch:<18} {size:>5} {fmt:<14} failed: {r['error']}")
                    continue
                print(
                    f"{r['arch']:<18} {r['params']:>11,} {size:>5} {fmt:<14} "
                    f"{r['median_s']:>9.3f} {r['peak_mem_mb']:>9.0f}",
                    flush=True,
                )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


# --- the reference forward, written from ../shared/specs/official-network.md ----------
# Plain contiguous float32 tensors, the reference's einops attention (softmax of q over
# its 32 channels, of k over pixels), its two-pass layer norm and out-of-place
# activations. Module names follow the reference's keys, so an irsde network's
# state_dict loads into it with strict keys.

try:
    from einops import rearrange as _rearrange

    EINOPS = True
except ImportError:  # an einops-free equivalent (same memory traffic: reshape + copy)
    EINOPS = False


def _split_heads(t, heads: int):
    """``b (h c) x y -> b h c (x y)``."""
    if EINOPS:
        return _rearrange(t, "b (h c) x y -> b h c (x y)", h=heads)
    b, _, x, y = t.shape
    return t.reshape(b, heads, -1, x * y)


def _merge_heads(t, x: int, y: int):
    """``b h c (x y) -> b (h c) x y``."""
    if EINOPS:
        return _rearrange(t, "b h c (x y) -> b (h c) x y", x=x, y=y)
    b, h, c, _ = t.shape
    return t.reshape(b, h * c, x, y)


def _reference_modules():
    """The reference U-Net and NAFNet classes (built on first use: torch imports late)."""
    import math

    import torch
    import torch.nn.functional as F
    from torch import nn

    def sinusoidal(t, dim):
        half = dim // 2
        freqs = torch.exp(torch.arange(half) * -(math.log(10000) / (half - 1)))
        args = t[:, None] * freqs[None, :]
        return torch.cat((args.sin(), args.cos()), dim=-1)

    class Emb(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.dim = dim

        def forward(self, t):
            return sinusoidal(t, self.dim)

    class Norm(nn.Module):  # gain-only layer norm, variance then mean
        def __init__(self, dim):
            super().__init__()
            self.g = nn.Parameter(torch.ones(1, dim, 1, 1))

        def forward(self, x):
            var = torch.var(x, dim=1, unbiased=False, keepdim=True)
            mean = torch.mean(x, dim=1, keepdim=True)
            return (x - mean) * (var + 1e-5).rsqrt() * self.g

    class Block(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.proj = nn.Conv2d(cin, cout, 3, padding=1, bias=False)

        def forward(self, x, scale_shift=None):
            x = self.proj(x)
            if scale_shift is not None:
                x = x * (scale_shift[0] + 1) + scale_shift[1]
            return F.silu(x)

    class ResBlock(nn.Module):
        def __init__(self, cin, cout, tdim):
            super().__init__()
            self.mlp = nn.Sequential(nn.SiLU(), nn.Linear(tdim, 2 * cout))
            self.block1, self.block2 = Block(cin, cout), Block(cout, cout)
            self.res_conv = nn.Conv2d(cin, cout, 1, bias=False) if cin != cout else nn.Identity()

        def forward(self, x, emb):
            scale_shift = self.mlp(emb)[:, :, None, None].chunk(2, dim=1)
            return self.block2(self.block1(x, scale_shift)) + self.res_conv(x)

    class LinearAttention(nn.Module):
        def __init__(self, dim, heads=4, dim_head=32):
            super().__init__()
            self.heads, self.scale = heads, dim_head**-0.5
            self.to_qkv = nn.Conv2d(dim, 3 * heads * dim_head, 1, bias=False)
            self.to_out = nn.Sequential(nn.Conv2d(heads * dim_head, dim, 1), Norm(dim))

        def forward(self, x):
            _, _, h, w = x.shape
            q, k, v = (_split_heads(t, self.heads) for t in self.to_qkv(x).chunk(3, dim=1))
            q = q.softmax(dim=-2) * self.scale
            k = k.softmax(dim=-1)
            v = v / (h * w)
            context = torch.einsum("bhdn,bhen->bhde", k, v)
            out = torch.einsum("bhde,bhdn->bhen", context, q)
            return self.to_out(_merge_heads(out, h, w))

    class PreNorm(nn.Module):
        def __init__(self, dim, fn):
            super().__init__()
            self.fn, self.norm = fn, Norm(dim)

        def forward(self, x):
            return self.fn(self.norm(x))

    class Residual(nn.Module):
        def __init__(self, fn):
            super().__init__()
            self.fn = fn

        def forward(self, x):
            return self.fn(x) + x

    def attn(dim):
        return Residual(PreNorm(dim, LinearAttention(dim)))

    class RefUNet(nn.Module):
        def __init__(self, in_nc=3, out_nc=3, nf=64, depth=4):
            super().__init__()
            self.depth, td = depth, 4 * nf
            self.init_conv = nn.Conv2d(2 * in_nc, nf, 7, padding=3, bias=False)
            self.time_mlp = nn.Sequential(Emb(nf), nn.Linear(nf, td), nn.GELU(), nn.Linear(td, td))
            self.downs, self.ups = nn.ModuleList(), nn.ModuleList()
            for i in range(depth):
                c = nf * 2**i
                last = i == depth - 1
                down = (
                    nn.Conv2d(c, 2 * c, 3, 1, 1, bias=False)
                    if last
                    else nn.Conv2d(c, 2 * c, 4, 2, 1)
                )
                self.downs.append(
                    nn.ModuleList([ResBlock(c, c, td), ResBlock(c, c, td), attn(c), down])
                )
                up = (
                    nn.Conv2d(2 * c, c, 3, 1, 1, bias=False)
                    if i == 0
                    else nn.Sequential(
                        nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(2 * c, c, 3, 1, 1)
                    )
                )
                blocks = [ResBlock(3 * c, 2 * c, td), ResBlock(3 * c, 2 * c, td), attn(2 * c), up]
                self.ups.insert(0, nn.ModuleList(blocks))
            mid = nf * 2**depth
            self.mid_block1, self.mid_attn, self.mid_block2 = (
                ResBlock(mid, mid, td),
                attn(mid),
                ResBlock(mid, mid, td),
            )
            self.final_res_block = ResBlock(2 * nf, nf, td)
            self.final_conv = nn.Conv2d(nf, out_nc, 3, 1, 1)

        def forward(self, xt, cond, t):
            x = torch.cat([xt - cond, cond], dim=1)
            h, w = x.shape[2:]
            s = 2**self.depth
            x = F.pad(x, (0, (s - w % s) % s, 0, (s - h % s) % s), "reflect")
            x = self.init_conv(x)
            r = x.clone()
            emb = self.time_mlp(t)
            skips = []
            for b1, b2, at, down in self.downs:
                x = b1(x, emb)
                skips.append(x)
                x = at(b2(x, emb))
                skips.append(x)
                x = down(x)
            x = self.mid_block2(self.mid_attn(self.mid_block1(x, emb)), emb)
            for b1, b2, at, up in self.ups:
                x = b1(torch.cat([x, skips.pop()], dim=1), emb)
                x = b2(torch.cat([x, skips.pop()], dim=1), emb)
                x = up(at(x))
            x = self.final_res_block(torch.cat([x, r], dim=1), emb)
            return self.final_conv(x)[..., :h, :w]

    class Gate(nn.Module):
        def forward(self, x):
            a, b = x.chunk(2, dim=1)
            return a * b

    class NAFBlock(nn.Module):
        def __init__(self, c, td):
            super().__init__()
            self.mlp = nn.Sequential(Gate(), nn.Linear(td // 2, 4 * c))
            self.conv1, self.conv2 = (
                nn.Conv2d(c, 2 * c, 1),
                nn.Conv2d(2 * c, 2 * c, 3, 1, 1, groups=2 * c),
            )
            self.conv3 = nn.Conv2d(c, c, 1)
            self.sca = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, c, 1))
            self.sg = Gate()
            self.conv4, self.conv5 = nn.Conv2d(c, 2 * c, 1), nn.Conv2d(c, c, 1)
            self.norm1, self.norm2 = Norm(c), Norm(c)
            self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
            self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))

        def forward(self, inp, emb):
            sh_a, sc_a, sh_f, sc_f = self.mlp(emb)[:, :, None, None].chunk(4, dim=1)
            x = self.norm1(inp) * (sc_a + 1) + sh_a
            x = self.sg(self.conv2(self.conv1(x)))
            x = self.conv3(x * self.sca(x))
            y = inp + x * self.beta
            x = self.norm2(y) * (sc_f + 1) + sh_f
            x = self.conv5(self.sg(self.conv4(x)))
            return y + x * self.gamma

    class RefNAFNet(nn.Module):
        def __init__(
            self,
            in_nc=3,
            width=64,
            enc_blocks=(1, 1, 1, 28),
            middle_blocks=1,
            dec_blocks=(1, 1, 1, 1),
        ):
            super().__init__()
            td = 4 * width
            self.time_mlp = nn.Sequential(
                Emb(width), nn.Linear(width, 2 * td), Gate(), nn.Linear(td, td)
            )
            self.intro = nn.Conv2d(2 * in_nc, width, 3, 1, 1)
            self.ending = nn.Conv2d(width, in_nc, 3, 1, 1)
            self.encoders, self.downs = nn.ModuleList(), nn.ModuleList()
            self.ups, self.decoders = nn.ModuleList(), nn.ModuleList()
            c = width
            for n in enc_blocks:
                self.encoders.append(nn.ModuleList(NAFBlock(c, td) for _ in range(n)))
                self.downs.append(nn.Conv2d(c, 2 * c, 2, 2))
                c *= 2
            self.middle_blks = nn.ModuleList(NAFBlock(c, td) for _ in range(middle_blocks))
            for n in dec_blocks:
                self.ups.append(
                    nn.Sequential(nn.Conv2d(c, 2 * c, 1, bias=False), nn.PixelShuffle(2))
                )
                c //= 2
                self.decoders.append(nn.ModuleList(NAFBlock(c, td) for _ in range(n)))
            self.padder = 2 ** len(enc_blocks)

        @staticmethod
        def run(blocks, x, emb):
            for b in blocks:
                x = b(x, emb)
            return x

        def forward(self, inp, cond, t):
            x = torch.cat([inp - cond, cond], dim=1)
            emb = self.time_mlp(t)
            h, w = x.shape[2:]
            p = self.padder
            x = self.intro(F.pad(x, (0, (p - w % p) % p, 0, (p - h % p) % p)))
            skips = []
            for blocks, down in zip(self.encoders, self.downs, strict=True):
                x = self.run(blocks, x, emb)
                skips.append(x)
                x = down(x)
            x = self.run(self.middle_blks, x, emb)
            for blocks, up, skip in zip(self.decoders, self.ups, skips[::-1], strict=True):
                x = self.run(blocks, up(x) + skip, emb)
            return self.ending(x)[..., :h, :w]

    return RefUNet, RefNAFNet


# --- irsde against the reference, side by side ------------------------------------------

#: the reference-size networks compared: irsde architecture, its params, reference class
REFERENCE_NETS = {
    "unet": ("ConditionalUNet", {"depth": 4}, 0),
    # Refusion's recipe (refusion.yml): width 64, 28 blocks at the lowest encoder level
    "nafnet": (
        "RefusionNAFNet",
        {"width": 64, "enc_blocks": [1, 1, 1, 28], "middle_blocks": 1, "dec_blocks": [1, 1, 1, 1]},
        1,
    ),
}


def _perturbed(net, seed: int):
    """``net`` with every weight moved off its initial value by 30% of its own spread
    (norm gains and NAFNet residual scales included: at their initial 1 and 0 they would
    hide mistakes); outputs stay of the order of a trained network's noise."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if leaf in ("g", "beta", "gamma"):
                p.copy_(float(leaf == "g") + 0.3 * torch.randn(p.shape, generator=g))
            elif p.numel() > 1:
                p.add_(0.3 * float(p.std()) * torch.randn(p.shape, generator=g))
    return net.eval()


def _timed(fn, *inputs) -> float:
    start = time.perf_counter()
    fn(*inputs)
    return time.perf_counter() - start


def bf16_native() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX)."""
    import torch

    return bool(
        torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    )


def compare_one(kind: str, params: dict, size: int, args: argparse.Namespace) -> dict:
    """irsde's network and the reference forward on the same weights and inputs:
    outputs' largest difference and median times over interleaved repeats."""
    import torch

    from irsde.nets import build_network, count_parameters

    name, base, which = REFERENCE_NETS[kind]
    params = {**base, **params}
    torch.manual_seed(0)
    ours = _perturbed(build_network(name, **params), seed=1)
    ref_cls = _reference_modules()[which]
    ref_params = {k: v for k, v in params.items() if k != "conditional"}
    ref = ref_cls(**ref_params).eval()
    ref.load_state_dict(ours.state_dict(), strict=True)
    ours = ours.to(memory_format=torch.channels_last)  # what load_model does on CPU
    gen = torch.Generator().manual_seed(0)
    mu = torch.rand(1, 3, size, size, generator=gen)
    x_t = mu + 0.2 * torch.randn(mu.shape, generator=gen)
    t = torch.tensor([100.0])
    runs = {"reference": ref, "irsde": ours}
    if args.bf16 and bf16_native():

        def ours_bf16(*a):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return ours(*a).float()

        runs["irsde_bf16"] = ours_bf16
    times: dict[str, list[float]] = {k: [] for k in runs}
    with torch.inference_mode():
        outs = {k: fn(x_t, mu, t) for k, fn in runs.items()}  # warm-up, and the outputs
        for _ in range(args.repeat):
            for k, fn in runs.items():
                times[k].append(_timed(fn, x_t, mu, t))
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "arch": name,
        "arch_params": ours.arch_params,
        "params": count_parameters(ours),
        "size": size,
        "threads": torch.get_num_threads(),
        "einops": EINOPS,
        "repeat": args.repeat,
        "median_s": med,
        "times_s": times,
        "ratio": {k: med[k] / med["reference"] for k in med if k != "reference"},
        "max_abs_diff": {
            k: float((outs[k] - outs["reference"]).abs().max()) for k in outs if k != "reference"
        },
    }


def _load() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def main_vs_reference(args: argparse.Namespace) -> int:
    """Print (and optionally write) the irsde-versus-reference table."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    configs = [("unet", {"nf": nf}) for nf in args.nf if "unet" in args.arch]
    configs += [("nafnet", {})] if "nafnet" in args.arch else []
    print(f"threads {torch.get_num_threads()}, einops {EINOPS}, load average {_load()}")
    print(
        f"{'network':<26} {'size':>5} {'reference s':>12} {'irsde s':>9} {'ratio':>6} {'max diff':>9}"
    )
    results, ok = [], True
    for kind, params in configs:
        for size in args.sizes:
            r = compare_one(kind, params, size, args)
            r["load_average"] = _load()
            results.append(r)
            ok &= r["max_abs_diff"]["irsde"] <= 1e-4
            label = f"{r['arch']} " + ",".join(f"{k}={v}" for k, v in params.items())
            m = r["median_s"]
            print(
                f"{label:<26} {size:>5} {m['reference']:>12.3f} {m['irsde']:>9.3f} "
                f"{r['ratio']['irsde']:>6.2f} {r['max_abs_diff']['irsde']:>9.1e}"
                + (
                    f"   bf16 {m['irsde_bf16']:.3f} s ({r['ratio']['irsde_bf16']:.2f}x,"
                    f" diff {r['max_abs_diff']['irsde_bf16']:.1e})"
                    if "irsde_bf16" in m
                    else ""
                ),
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
