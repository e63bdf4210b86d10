"""Screenshot of the web demo after restoring a bundled example (for the README).

Starts the app on a free loopback port (embedded models, plus ``--model`` files; a tiny
untrained model when there is none), opens it in headless Chromium (Playwright with the
system browser), restores an example the way a user would and saves the page::

    .venv/bin/python scripts/screenshot_web.py [--out docs/images/web-demo.png]
        [--model PATH] [--select NAME] [--example astronaut.png] [--steps N] [--samples 2]
        [--colors 256]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
log = logging.getLogger("screenshot_web")


def tiny_model(folder: Path) -> Path:
    from irsde.models import save_model
    from irsde.nets import build_network

    net = build_network(
        "ConditionalNAFNet", width=8, enc_blocks=[1], middle_blocks=1, dec_blocks=[1]
    )
    sde = {"max_sigma": 10, "T": 100, "schedule": "cosine", "eps": 0.005}
    sampler = {"name": "posterior", "steps": 5, "spacing": "uniform"}
    return save_model(net, folder / "tiny.safetensors", sde=sde, task="denoise", sampler=sampler)


def shoot(url: str, args: argparse.Namespace) -> None:
    """Drive the page: pick the example and model, restore, screenshot."""
    from playwright.sync_api import expect, sync_playwright

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            profile,
            executable_path=args.chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": args.width, "height": args.height},
            device_scale_factor=1,
        )
        try:
            page = ctx.new_page()
            page.goto(url + "/")
            page.wait_for_selector("body[data-ready='1']", timeout=30_000)
            if args.select:
                page.select_option("#model", args.select)
            page.click(f".example[data-name='{args.example}']")
            if args.steps:
                page.fill("#steps", str(args.steps))
            page.fill("#samples", str(args.samples))
            page.click("#run")
            expect(page.locator("#result-bar")).to_be_visible(timeout=args.timeout * 1000)
            page.wait_for_function("document.getElementById('after').complete")
            page.wait_for_timeout(300)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out), full_page=True)
        finally:
            ctx.close()


def shrink(path: Path, colors: int) -> None:
    """Re-save the screenshot with a ``colors``-entry palette (a third of the size)."""
    from PIL import Image

    with Image.open(path) as im:
        pal = im.convert("RGB").quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
    pal.save(path, optimize=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "docs/images/web-demo.png")
    p.add_argument("--model", type=Path, action="append", default=[], help="extra model file")
    p.add_argument("--select", help="model name to pick on the page (default: the first)")
    p.add_argument("--example", default="astronaut.png")
    p.add_argument("--steps", type=int, help="sampler steps (default: the model's)")
    p.add_argument("--samples", type=int, default=2)
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=860)
    p.add_argument("--timeout", type=float, default=600.0, help="seconds for the restoration")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--colors", type=int, default=256, help="palette size (0: full color)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from irsde.web import Settings
    from irsde.web.app import BackgroundServer, create_app
    from irsde.weights import available_models

    with tempfile.TemporaryDirectory() as tmp:
        models = list(args.model)
        if not models and not available_models():
            log.warning("no embedded models yet: using a tiny untrained model (noisy result)")
            models = [tiny_model(Path(tmp))]
        app = create_app(Settings(model_paths=models, device="cpu", temp_dir=Path(tmp)))
        with BackgroundServer(app) as server:
            log.info("server on %s", server.url)
            shoot(server.url, args)
    if args.colors:
        shrink(args.out, args.colors)
    log.info("saved %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
