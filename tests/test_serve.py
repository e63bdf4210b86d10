"""The web demo over HTTP: a real uvicorn server on a free loopback port, a tiny model."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import io
import json
import re
import socket
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("python_multipart")

from irsde.cli import main
from irsde.web import Settings
from irsde.web import jobs as jobs_mod
from irsde.web.app import BackgroundServer, create_app
from irsde.web.upload import UploadError, receive_form, safe_name

ROOT = Path(__file__).resolve().parents[1]


def _load_bench():
    if "load_serve" in sys.modules:
        return sys.modules["load_serve"]
    spec = importlib.util.spec_from_file_location("load_serve", ROOT / "benchmarks/load_serve.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules["load_serve"] = mod
    spec.loader.exec_module(mod)
    return mod


bench = _load_bench()
encode_multipart, request, png_bytes = bench.encode_multipart, bench.request, bench.png_bytes


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bench.make_tiny_model(tmp_path_factory.mktemp("model") / "tiny.safetensors")


@pytest.fixture
def serve(tiny_model: Path, tmp_path: Path):
    """Start a server with given settings; yields a function ``(**settings) -> (url, app)``."""
    servers: list[BackgroundServer] = []

    def start(**kw) -> tuple[str, object]:
        kw.setdefault("model_paths", [tiny_model])
        kw.setdefault("include_embedded", False)
        kw.setdefault("device", "cpu")
        kw.setdefault("temp_dir", tmp_path / "srv")
        app = create_app(Settings(**kw))
        servers.append(BackgroundServer(app).start())
        return servers[-1].url, app

    yield start
    for s in servers:
        s.stop()


def image(w: int = 40, h: int = 32, seed: int = 0) -> bytes:
    arr = (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)
    return png_bytes(arr)


def post(url: str, fields: dict[str, str], file: tuple[str, bytes] | None = None):
    body, ctype = encode_multipart(fields, file)
    status, headers, data = request("POST", url + "/api/restore", body, {"Content-Type": ctype})
    return status, headers, json.loads(data)


def wait_done(url: str, job_id: str, timeout: float = 60.0) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = json.loads(request("GET", f"{url}/api/jobs/{job_id}")[2])
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.05)
    raise AssertionError("job did not finish")


def temp_files(app) -> list[Path]:
    return list(app.state.demo.upload_dir.iterdir())


def test_restore_upload_with_samples(serve) -> None:
    url, app = serve()
    fields = {"model": "tiny", "steps": "3", "samples": "2", "seed": "5"}
    status, _, job = post(url, fields, ("../../etc/My photo.png", image(40, 32)))
    assert status == 202, job
    job = wait_done(url, job["id"])
    assert job["state"] == "done", job
    assert (job["width"], job["height"], job["steps"], job["samples"]) == (40, 32, 3, 2)
    assert job["progress"] == 1.0 and job["std_max"] is not None
    assert set(job["images"]) == {"input", "result", "std"}
    status, headers, png = request("GET", url + job["images"]["result"] + "?download=1")
    assert status == 200 and headers["content-type"] == "image/png"
    assert headers["content-disposition"] == 'attachment; filename="My_photo_restored.png"'
    assert Image.open(io.BytesIO(png)).size == (40, 32)
    std = Image.open(io.BytesIO(request("GET", url + job["images"]["std"])[2]))
    assert std.size == (40, 32)
    assert temp_files(app) == []


def test_realistic_mode_runs_the_models_realistic_setting(serve) -> None:
    url, _ = serve()
    (model,) = json.loads(request("GET", url + "/api/models")[2])
    realistic = model["realistic"]
    assert realistic["name"] in model["samplers"] and 1 <= realistic["steps"] <= model["max_steps"]
    fields = {"model": "tiny", "mode": "realistic", "sampler": realistic["name"],
              "steps": str(realistic["steps"]), "seed": "3"}  # fmt: skip
    status, _, job = post(url, fields, ("a.png", image(24, 20)))
    assert status == 202, job
    job = wait_done(url, job["id"])
    assert job["state"] == "done" and job["mode"] == "realistic", job
    assert job["sampler"] == realistic["name"] and job["steps"] == realistic["steps"]


def test_example_degraded_and_page(serve) -> None:
    url, _ = serve()
    status, _, job = post(url, {"example": "coffee.png", "degrade": "1", "steps": "2"})
    assert status == 202, job
    job = wait_done(url, job["id"])
    assert job["state"] == "done" and (job["width"], job["height"]) == (256, 200)
    status, headers, page = request("GET", url + "/")
    assert status == 200 and b'id="file"' in page
    assert "default-src 'none'" in headers["content-security-policy"]
    for name in ("app.js", "style.css", "favicon.svg"):
        assert request("GET", f"{url}/static/{name}")[0] == 200
    models = json.loads(request("GET", url + "/api/models")[2])
    assert [m["name"] for m in models] == ["tiny"] and models[0]["steps"] == 5
    examples = json.loads(request("GET", url + "/api/examples")[2])
    assert {e["name"] for e in examples} == {"astronaut.png", "chelsea.png", "coffee.png"}


def test_limits_refused_with_message(serve) -> None:
    url, app = serve(max_upload_mb=0.02, max_pixels=100_000)
    noise = (np.random.default_rng(1).random((150, 150, 3)) * 255).astype(np.uint8)
    status, _, body = post(url, {}, ("big.png", png_bytes(noise)))
    assert status == 413 and "20 kB limit" in body["error"]
    big = png_bytes(np.zeros((400, 400, 3), np.uint8))
    status, _, body = post(url, {}, ("wide.png", big))
    assert status == 413 and "megapixels" in body["error"]
    # streamed without Content-Length: refused while receiving
    raw, ctype = encode_multipart({}, ("big.png", png_bytes(noise)))
    status, _, data = request(
        "POST", url + "/api/restore", raw, {"Content-Type": ctype}, chunked=True
    )
    assert status == 413 and "limit" in json.loads(data)["error"]
    assert temp_files(app) == []


@pytest.mark.parametrize(
    ("fields", "file", "status", "words"),
    [
        ({}, ("x.png", b"not an image at all"), 400, "not an image"),
        ({"model": "nope"}, ("x.png", image()), 400, "unknown model"),
        ({"steps": "abc"}, ("x.png", image()), 400, "whole number"),
        ({"steps": "0"}, ("x.png", image()), 400, "between 1 and 100"),
        ({"samples": "99"}, ("x.png", image()), 400, "samples"),
        ({"sampler": "euler"}, ("x.png", image()), 400, "unknown sampler"),
        ({"mode": "dreamy"}, ("x.png", image()), 400, "unknown mode"),
        ({}, None, 400, "no image"),
        ({"example": "../../io.py"}, None, 400, "no example"),
    ],
)
def test_bad_requests(serve, fields, file, status, words) -> None:
    url, app = serve()
    got, _, body = post(url, fields, file)
    assert got == status and words in body["error"], body
    assert "Traceback" not in body["error"]
    assert temp_files(app) == []


def test_bad_routes_and_bodies(serve) -> None:
    url, _ = serve()
    for path in ("/api/examples/..%2F..%2Fio.py", "/static/app.py", "/api/jobs/zzz", "/nope"):
        status, _, data = request("GET", url + path)
        assert status == 404 and json.loads(data)["error"], path
    status, _, data = request("POST", url + "/api/restore", image(), {"Content-Type": "image/png"})
    assert status == 415 and "multipart" in json.loads(data)["error"]
    status, _, data = request(
        "POST", url + "/api/restore", b"--x\r\ngarbage", {"Content-Type": "multipart/form-data"}
    )
    assert status == 400 and json.loads(data)["error"]


def test_truncated_image_fails_with_clean_message(serve) -> None:
    url, app = serve()
    data = image(64, 64)
    status, _, job = post(url, {}, ("cut.png", data[: len(data) // 2]))
    assert status == 202
    job = wait_done(url, job["id"])
    assert job["state"] == "error" and job["error"].startswith("cut:"), job
    assert str(app.state.demo.upload_dir) not in job["error"]
    assert temp_files(app) == []


def _blocking_run(release: threading.Event):
    def run_job(job, registry, max_pixels, tile=512):
        job.discard_source()
        while not release.wait(0.02):
            job.on_step({"i": 0, "steps": 10, "sample": 0, "samples": 1})

    return run_job


def test_queue_full_503_and_cancel(serve, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    monkeypatch.setattr(jobs_mod, "run_job", _blocking_run(release))
    url, app = serve(queue_limit=2)
    try:
        ids = [post(url, {}, ("a.png", image()))[2]["id"] for _ in range(2)]
        status, headers, body = post(url, {}, ("a.png", image()))
        assert status == 503 and "busy" in body["error"] and headers["retry-after"]
        queued = json.loads(request("GET", f"{url}/api/jobs/{ids[1]}")[2])
        assert queued["state"] == "queued" and queued["position"] == 1
        for job_id in ids:
            assert request("DELETE", f"{url}/api/jobs/{job_id}")[0] == 200
        assert wait_done(url, ids[0])["state"] == "cancelled"
        assert temp_files(app) == []
        status, _, _ = post(url, {}, ("a.png", image()))
        assert status == 202
    finally:
        release.set()


def test_results_expire(serve) -> None:
    url, _ = serve(result_ttl=0.3)
    job = wait_done(url, post(url, {"steps": "1"}, ("a.png", image()))[2]["id"])
    assert job["state"] == "done"
    time.sleep(0.5)
    status, _, data = request("GET", url + job["images"]["result"])
    assert status == 404 and "expired" in json.loads(data)["error"]


def test_receive_form_streaming_limit(tmp_path: Path) -> None:
    body, ctype = encode_multipart({"model": "m"}, ("a.png", b"x" * 5000))

    async def chunks():
        for i in range(0, len(body), 1000):
            yield body[i : i + 1000]

    with pytest.raises(UploadError) as err:
        asyncio.run(receive_form(ctype, None, chunks(), tmp_path, 2000))
    assert err.value.status == 413 and list(tmp_path.iterdir()) == []
    form = asyncio.run(receive_form(ctype, None, chunks(), tmp_path, 10_000))
    assert (
        form.fields == {"model": "m"}
        and form.size == 5000
        and form.file.read_bytes() == b"x" * 5000
    )
    form.discard()
    assert list(tmp_path.iterdir()) == []


def test_safe_name() -> None:
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("C:\\Users\\me\\Ünïcode photo.JPG") == "n_code_photo"
    assert safe_name("") == "image" and safe_name("...") == "image"


def test_cli_serve_errors(tiny_model: Path, monkeypatch, capsys) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        code = main(["serve", "--port", str(port), "--model", str(tiny_model), "--no-embedded"])
    assert code == 2 and "cannot listen on 127.0.0.1" in capsys.readouterr().err
    code = main(["serve", "--no-embedded", "--port", "0"])
    assert code == 2 and "no models to serve" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "fastapi", None)
    assert main(["serve"]) == 2
    assert "pip install 'irsde[serve]'" in capsys.readouterr().err


def test_small_load(tmp_path: Path) -> None:
    """The load benchmark in small: real ``irsde serve``, 20 requests, 4 at once."""
    args = bench.parse_args(["--requests", "20", "--concurrency", "4", "--json", ""])
    summary = bench.run(args)
    assert summary["ok"], summary
    assert summary["good_answered"] == summary["good_sent"] == 16
    assert summary["bad_refused"] == summary["bad_sent"] == 4


def test_results_memory_is_bounded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def run_job(job, registry, max_pixels, tile=512):
        job.images["result"] = b"x" * 60

    monkeypatch.setattr(jobs_mod, "run_job", run_job)
    queue = jobs_mod.JobQueue(None, max_result_bytes=100)  # type: ignore[arg-type]
    try:
        made = []
        for i in range(3):
            src = tmp_path / f"{i}.png"
            src.write_bytes(b"x")
            req = jobs_mod.JobRequest("m", "posterior", 1, 0, 1, src, True, "n")
            made.append(queue.submit(req))
            end = time.monotonic() + 10
            while queue.get(made[-1].id)[0].state != "done" and time.monotonic() < end:
                time.sleep(0.01)
        assert [queue.get(j.id) is None for j in made] == [True, True, False]
        assert list(tmp_path.iterdir()) == []
    finally:
        queue.close()


def test_a_universal_model_is_refused_by_the_demo_in_one_line(tmp_path):
    from irsde.errors import UsageError
    from irsde.models import save_model
    from irsde.nets import build_network
    from irsde.web.jobs import read_model_info

    net = build_network(
        "ConditionalNAFNet", width=4, enc_blocks=[1], middle_blocks=1, dec_blocks=[1]
    )
    path = tmp_path / "u.safetensors"
    save_model(net, path, task=["derain", "dehaze"], sde={"max_sigma": 10, "T": 6})
    with pytest.raises(UsageError, match="universal model \\(derain, dehaze\\)"):
        read_model_info(path, "u")


# ------------------------------------------------------------------ hosts and origins
def test_foreign_hosts_and_cross_origin_changes_are_refused(serve) -> None:
    url, app = serve(allowed_hosts=["demo.lan"])
    body, ctype = encode_multipart({"steps": "1"}, ("a.png", image()))
    port = url.rsplit(":", 1)[1]

    def send(method: str, path: str, **headers: str) -> tuple[int, str]:
        data = body if method == "POST" else None
        hdrs = {"Content-Type": ctype, **headers} if data else headers
        status, _, answer = request(method, url + path, data, hdrs)
        return status, bench.error_of(answer)

    evil = {"Host": "evil.example", "Origin": "http://evil.example"}
    for method, path in (("POST", "/api/restore"), ("GET", "/api/models"), ("GET", "/")):
        status, error = send(method, path, Host=f"evil.example:{port}")
        assert status == 403 and "evil.example" in error and "--allow-host" in error
    assert send("POST", "/api/restore", **evil)[0] == 403
    for origin in ("http://evil.example", f"http://evil.example:{port}", "null", "file://"):
        status, error = send("POST", "/api/restore", Origin=origin)
        assert status == 403 and "cross-origin" in error, origin
    status, error = send("POST", "/api/restore", **{"Sec-Fetch-Site": "cross-site"})
    assert status == 403 and "cross-site" in error
    assert send("DELETE", "/api/jobs/x", Origin="http://evil.example")[0] == 403
    # the served names, the page's own origin, and clients without Origin are served
    assert send("POST", "/api/restore")[0] == 202
    assert send("POST", "/api/restore", Origin=url, **{"Sec-Fetch-Site": "same-origin"})[0] == 202
    assert send("POST", "/api/restore", Host=f"localhost:{port}")[0] == 202
    assert send("POST", "/api/restore", Host=f"[::1]:{port}")[0] == 202
    assert send("GET", "/api/models", Host=f"DEMO.lan:{port}")[0] == 200
    assert app.state.demo.queue.counts()["queued"] + app.state.demo.queue.counts()["running"] <= 4


def test_serve_cli_accepts_its_host_and_allow_host(tiny_model: Path, monkeypatch) -> None:
    import uvicorn

    seen = {}
    monkeypatch.setattr(
        uvicorn.Server, "run", lambda self, sockets: seen.update(app=self.config.app)
    )
    argv = ["serve", "--model", str(tiny_model), "--no-embedded", "--port", "0", "--device", "cpu"]
    assert main([*argv, "--allow-host", "demo.lan"]) == 0
    names = seen["app"].state.demo.settings.host_names
    assert {"127.0.0.1", "localhost", "::1", "demo.lan"} <= names and "evil.example" not in names


# ------------------------------------------------------------------ stalled uploads
def _stall(url: str, sent: bytes = b"") -> socket.socket:
    """Open a connection, send the head of an upload and 300 bytes of its body, then wait."""
    host, port = url.split("//")[1].split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    body, ctype = encode_multipart({}, ("a.png", image(200, 200)))
    head = (
        f"POST /api/restore HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body[:300])
    return sock


def _answer(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_stalled_uploads_time_out_and_free_their_slots(serve) -> None:
    """Real sockets on loopback: idle clients holding every upload slot are answered 408
    within the idle timeout, and other clients are served meanwhile and after."""
    url, app = serve(max_uploads=2, upload_idle_timeout=0.5, upload_timeout=5)
    stalled = [_stall(url) for _ in range(2)]
    try:
        deadline = time.monotonic() + 1.0
        while app.state.demo.uploads < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert app.state.demo.uploads == 2
        assert request("GET", url + "/api/health")[0] == 200  # GETs need no slot
        assert post(url, {"steps": "1"}, ("a.png", image()))[0] == 503
        start = time.monotonic()
        answers = [_answer(s) for s in stalled]
        assert time.monotonic() - start < 3.0
        for raw in answers:
            assert raw.startswith(b"HTTP/1.1 408") and b"stalled" in raw, raw[:200]
        assert app.state.demo.uploads == 0
        status, _, job = post(url, {"steps": "1"}, ("a.png", image()))
        assert status == 202, job
        assert wait_done(url, job["id"])["state"] == "done"
        assert temp_files(app) == []
    finally:
        for s in stalled:
            s.close()


def test_trickling_upload_is_dropped_by_the_rate_floor(serve) -> None:
    url, app = serve(upload_idle_timeout=0.4, upload_timeout=30, upload_min_rate=100_000)
    sock = _stall(url)
    try:
        for _ in range(8):  # a byte every 0.2 s: never idle, far below the rate floor
            time.sleep(0.2)
            with contextlib.suppress(OSError):
                sock.sendall(b"x")
        raw = _answer(sock)
        assert raw.startswith(b"HTTP/1.1 408") and b"too slow" in raw, raw[:200]
    finally:
        sock.close()
    assert app.state.demo.uploads == 0 and temp_files(app) == []


def test_overlong_multipart_boundary_is_a_400(serve) -> None:
    url, _ = serve()
    ctype = "multipart/form-data; boundary=" + "b" * 300
    status, _, data = request(
        "POST", url + "/api/restore", b"--" + b"b" * 300, {"Content-Type": ctype}
    )
    assert status == 400 and "boundary" in bench.error_of(data)


# ------------------------------------------------------------------ the bad-input corpus
def test_every_corpus_case_uploaded_is_served_or_refused_in_one_line(serve, tmp_path) -> None:
    """Each file of tests/badinputs.py as an upload: good ones restore to their size,
    bad ones are refused (4xx) or their job fails, in one line naming the upload."""
    from badinputs import LOCKED, make_corpus

    url, app = serve(max_pixels=1_000_000)
    cases = make_corpus(tmp_path / "corpus")
    for case in cases.values():
        path = tmp_path / "corpus" / case.name
        if not case.regular or case.name == LOCKED:  # an upload's bytes are always readable
            continue
        status, _, body = post(url, {"steps": "1"}, (case.name, path.read_bytes()))
        if status == 202:
            job = wait_done(url, body["id"])
            if case.ok:
                assert job["state"] == "done", (case.name, job)
                assert (job["height"], job["width"]) == case.size, case.name
            else:
                assert job["state"] == "error", (case.name, job)
                assert "\n" not in job["error"] and job["error"].startswith(case.stem[:20])
                assert re.search(case.error, job["error"]), job
        else:
            assert not case.ok and 400 <= status < 500, (case.name, status, body)
            assert "\n" not in body["error"], body
    assert temp_files(app) == []


def test_float_and_16_bit_tiffs_are_served_like_the_cli_reads_them(serve, tmp_path) -> None:
    import tifffile

    url, _ = serve()
    rng = np.random.default_rng(3)
    for name, arr in (
        ("float.tif", rng.random((20, 24, 3), dtype=np.float32)),
        ("deep.tif", rng.integers(0, 65536, (20, 24, 3), dtype=np.uint16)),
    ):
        tifffile.imwrite(tmp_path / name, arr, photometric="rgb")
        status, _, body = post(url, {"steps": "1"}, (name, (tmp_path / name).read_bytes()))
        assert status == 202, (name, body)
        job = wait_done(url, body["id"])
        assert job["state"] == "done" and (job["width"], job["height"]) == (24, 20), job
