"""The web demo end to end in a real headless Chromium (Playwright, system browser).

Skipped only when Chromium (``/usr/bin/chromium``) or Playwright is missing outside CI;
under CI (``$CI`` set) a missing browser is a failure.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from irsde.web import Settings
from irsde.web.app import BackgroundServer, create_app

CHROMIUM = Path("/usr/bin/chromium")
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


def _chromium() -> str:
    """The browser to use, or skip (fail under CI) with the reason."""
    found = str(CHROMIUM) if CHROMIUM.exists() else shutil.which("chromium")
    reason = ""
    if not found:
        reason = "Chromium is not installed (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "Playwright is not installed (pip install playwright)"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"browser test cannot run in CI: {reason}")
        pytest.skip(reason)
    return str(found)


def _bench():
    """``benchmarks/load_serve.py`` as a module (it holds the tiny-model helper)."""
    if "load_serve" in sys.modules:
        return sys.modules["load_serve"]
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("load_serve", root / "benchmarks/load_serve.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules["load_serve"] = mod
    spec.loader.exec_module(mod)
    return mod


def launch(playwright, user_data: Path):
    """A headless Chromium context (fresh profile, no background networking)."""
    return playwright.chromium.launch_persistent_context(
        str(user_data),
        executable_path=_chromium(),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1280, "height": 860},
        accept_downloads=True,
    )


def png_file(path: Path, w: int, h: int, noise: bool = True) -> Path:
    rng = np.random.default_rng(0)
    arr = (rng.random((h, w, 3)) * 255).astype(np.uint8) if noise else np.zeros((h, w, 3), np.uint8)
    Image.fromarray(arr).save(path)
    return path


def _console(msg, problems: list[str]) -> None:
    """Collect console errors, except the browser's own line about a refused request."""
    if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
        problems.append(msg.text)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("web")
    model = _bench().make_tiny_model(tmp / "tiny.safetensors")
    settings = Settings(
        model_paths=[model],
        include_embedded=False,
        device="cpu",
        max_upload_mb=0.05,
        max_pixels=1_000_000,
        temp_dir=tmp / "srv",
    )
    app = create_app(settings)
    with BackgroundServer(app) as srv:
        yield srv.url, app


def test_restore_in_browser(server, tmp_path: Path) -> None:
    _chromium()
    from playwright.sync_api import expect, sync_playwright

    url, app = server
    requests: list[str] = []
    problems: list[str] = []
    with sync_playwright() as p:
        ctx = launch(p, tmp_path / "profile")
        try:
            page = ctx.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("console", lambda m: _console(m, problems))
            page.goto(url + "/")
            page.wait_for_selector("body[data-ready='1']", timeout=20_000)
            expect(page.locator(".example")).to_have_count(3)

            # upload through the file input, restore with 2 samples
            page.set_input_files("#file", str(png_file(tmp_path / "small.png", 64, 48)))
            page.select_option("#model", "tiny")
            page.fill("#steps", "3")
            page.fill("#samples", "2")
            page.click("#run")
            expect(page.locator("#result-bar")).to_be_visible(timeout=60_000)
            expect(page.locator("#uncertainty")).to_be_visible()
            # the bar shows before the restored image has finished loading
            page.wait_for_function(
                "() => { const i = document.querySelector('#after');"
                " return i && i.complete && i.naturalWidth > 0; }",
                timeout=20_000,
            )
            assert page.eval_on_selector("#after", "img => img.naturalWidth") == 64
            assert "3 steps" in page.inner_text("#result-info")
            page.screenshot(path=str(tmp_path / "web-demo.png"), full_page=True)
            with page.expect_download() as info:
                page.click("#download")
            saved = tmp_path / "download.png"
            info.value.save_as(saved)
            with Image.open(saved) as im:
                assert im.format == "PNG" and im.size == (64, 48)
            assert info.value.suggested_filename == "small_restored.png"

            # a bundled example, one click away, in the realistic mode (its sampler and steps)
            page.click(".example[data-name='coffee.png']")
            page.fill("#samples", "1")
            page.select_option("#mode", "realistic")
            demo = app.state.demo
            realistic = demo.registry.models["tiny"].realistic(demo.settings.max_steps)
            assert page.input_value("#sampler") == realistic["name"]
            assert page.input_value("#steps") == str(realistic["steps"])
            page.click("#run")
            expect(page.locator("#result-info")).to_contain_text("256×200", timeout=60_000)
            expect(page.locator("#result-info")).to_contain_text("realistic")
            expect(page.locator("#uncertainty")).to_be_hidden()

            # too many bytes: refused with a message before uploading
            page.set_input_files("#file", str(png_file(tmp_path / "big.png", 200, 200)))
            expect(page.locator("#error")).to_be_visible()
            expect(page.locator("#error")).to_contain_text("accepts images up to 50 kB")
            expect(page.locator("#run")).to_be_disabled()

            # too many pixels: refused by the server, its message shown on the page
            page.set_input_files("#file", str(png_file(tmp_path / "wide.png", 1200, 1000, False)))
            expect(page.locator("#error")).to_be_hidden()
            page.click("#run")
            expect(page.locator("#error")).to_contain_text("megapixels", timeout=20_000)
            page.screenshot(path=str(tmp_path / "web-demo-error.png"))
        finally:
            ctx.close()
    assert not problems, problems
    foreign = [u for u in requests if not u.startswith((url, "blob:", "data:"))]
    assert not foreign, foreign
    assert list(app.state.demo.upload_dir.iterdir()) == []
    assert (tmp_path / "web-demo.png").stat().st_size > 10_000
