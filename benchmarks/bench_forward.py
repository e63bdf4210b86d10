"""Forward-pass speed and peak memory of the irsde networks.

Each configuration (architecture x size x memory format) runs in a fresh subprocess so
that its peak memory is its own: CUDA ``max_memory_allocated`` on GPU, the growth of
``ru_maxrss`` during the forward passes on CPU. Times are medians after warm-up.

    python benchmarks/bench_forward.py --arch unet nafnet --sizes 256 512 --threads 2 \
        --repeat 3 --memory-format both --json bench.json
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


if __name__ == "__main__":
    raise SystemExit(main())
