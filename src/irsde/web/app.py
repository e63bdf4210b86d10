"""The web demo app: a page and a small JSON API over one restoration queue.

JSON API (every error is ``{"error": "one readable line"}`` with a 4xx/5xx status)::

    GET    /                          the page
    GET    /static/{app.js|style.css|favicon.svg}
    GET    /api/config                limits: max_upload_bytes, max_pixels, max_steps,
                                      max_samples, samplers (registered names),
                                      sampler_descriptions {name: text}, version
    GET    /api/models                [{name, task, arch, params, T, sampler, samplers, realistic,
                                        steps, max_steps, scale, embedded}, ...]
                                      (samplers: those that run on the model's SDE)
    GET    /api/examples              [{name, width, height, url}, ...]
    GET    /api/examples/{name}       a bundled example image (astronaut.png, ...)
    POST   /api/restore               multipart form: image=<file> or example=<name>,
                                      model, mode (faithful | realistic), sampler (one of the
                                      model's samplers), steps, seed,
                                      samples, degrade (1: degrade the image for the
                                      model's task first) -> 202 {id, status_url, ...}
                                      413 too large, 400 invalid, 503 queue full
    GET    /api/jobs/{id}             {state: queued|running|done|error|cancelled,
                                       position, step, steps, sample, samples, progress
                                       (0..1), seconds, error, and when done: width,
                                       height, std_max, images{input,result[,std]}}
    GET    /api/jobs/{id}/input.png   the image the model saw (after any degradation)
    GET    /api/jobs/{id}/result.png  the restored image (?download=1: as attachment)
    GET    /api/jobs/{id}/std.png     per-pixel std of the samples (samples > 1)
    DELETE /api/jobs/{id}             cancel
    GET    /api/health                {ok, queued, running, uploads_in_progress,
                                       temp_files}

Example: ``curl -F image=@photo.png -F model=denoise -F steps=10 http://127.0.0.1:7860/api/restore``.

Requests addressed to another host name than those served (``Settings.host_names``)
and cross-origin state changes are answered 403 (:mod:`irsde.web.guard`); an upload
that stalls or trickles is answered 408 and frees its slot (``Settings.pace``).
Uploads are streamed to a private temporary folder (size checked while streaming,
pixel count read from the header before decoding), deleted once decoded; results live
in memory and expire (``Settings.result_ttl``). :class:`BackgroundServer` runs an app
with uvicorn in a thread, for tests and scripts.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import socket
import tempfile
import threading
import time
import weakref
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..io import sample_images_dir
from ..samplers import DEFAULT_MODE, MODES, SAMPLERS
from .guard import refusal
from .jobs import JobQueue, JobRequest, ModelRegistry, QueueFullError
from .settings import Settings
from .upload import UploadError, drain, probe_image, receive_form, safe_name

log = logging.getLogger(__name__)

STATIC = {"app.js": "text/javascript", "style.css": "text/css", "favicon.svg": "image/svg+xml"}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
IMAGES = ("input", "result", "std")


class ApiError(Exception):
    """Answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


# ---------------------------------------------------------------------------- state
class DemoState:
    """What the app holds: settings, models, queue, upload folder, examples."""

    def __init__(self, settings: Settings, registry: ModelRegistry | None = None) -> None:
        self.settings = settings
        self.registry = registry or ModelRegistry.from_paths(
            settings.model_paths, settings.model_dirs, settings.include_embedded, settings.device
        )
        if not self.registry.models:
            from ..errors import UsageError

            raise UsageError(
                "no models to serve: the embedded models are not installed; "
                "pass --model PATH or --model-dir DIR"
            )
        parent = settings.temp_dir
        if parent is not None:
            Path(parent).mkdir(parents=True, exist_ok=True)
        self.upload_dir = Path(tempfile.mkdtemp(prefix="irsde-serve-", dir=parent))
        self._finalizer = weakref.finalize(self, shutil.rmtree, self.upload_dir, True)
        self.queue = JobQueue(
            self.registry,
            limit=settings.queue_limit,
            ttl=settings.result_ttl,
            max_results=settings.max_results,
            max_result_bytes=int(settings.max_results_mb * 1_000_000),
            max_pixels=settings.max_pixels,
            tile=settings.tile,
        )
        self.examples = {p.name: p for p in sorted(sample_images_dir().glob("*.png"))}
        self.uploads = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def upload_slot(self):
        """Count an upload in progress; 503 beyond ``max_uploads``."""
        with self._lock:
            if self.uploads >= self.settings.max_uploads:
                raise ApiError(
                    503,
                    "the server is busy receiving other uploads; try again in a moment",
                    {"Retry-After": "2"},
                )
            self.uploads += 1
        try:
            yield
        finally:
            with self._lock:
                self.uploads -= 1

    def temp_files(self) -> int:
        return sum(1 for _ in self.upload_dir.iterdir()) if self.upload_dir.exists() else 0

    def close(self) -> None:
        self.queue.close()
        self._finalizer()


# ---------------------------------------------------------------------------- parsing
def _int(fields: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = fields.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be a whole number, got {raw[:20]!r}") from None
    if not lo <= value <= hi:
        raise ApiError(400, f"{name} must be between {lo} and {hi}, got {value}")
    return value


def parse_request(state: DemoState, fields: dict[str, str]) -> dict[str, Any]:
    """Validate the form's text fields -> model, mode, sampler, steps, seed, samples, degrade."""
    s = state.settings
    models = state.registry.models
    name = fields.get("model") or next(iter(models))
    if name not in models:
        raise ApiError(400, f"unknown model {name[:40]!r}; choose one of {', '.join(models)}")
    info = models[name]
    sampler = fields.get("sampler") or info.default_sampler
    if sampler not in info.samplers:
        what = "unknown sampler" if sampler not in SAMPLERS else "a sampler this model cannot run:"
        raise ApiError(400, f"{what} {sampler[:20]!r}; choose one of {', '.join(info.samplers)}")
    mode = fields.get("mode") or DEFAULT_MODE
    if mode not in MODES:
        raise ApiError(400, f"unknown mode {mode[:20]!r}; choose one of {', '.join(MODES)}")
    top = min(info.T, s.max_steps)
    return {
        "model": name,
        "mode": mode,
        "sampler": sampler,
        "steps": _int(fields, "steps", info.default_steps(s.max_steps), 1, top),
        "seed": _int(fields, "seed", 0, 0, 2**31 - 1),
        "samples": _int(fields, "samples", 1, 1, s.max_samples),
        "degrade": fields.get("degrade", "").lower() in ("1", "true", "on", "yes"),
    }


# ---------------------------------------------------------------------------- app
def create_app(settings: Settings | None = None, registry: ModelRegistry | None = None) -> FastAPI:
    """The demo app. Models are loaded (validated) now; the upload folder is removed at
    shutdown (or when the app is garbage-collected)."""
    state = DemoState(settings or Settings(), registry)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        state.close()

    app = FastAPI(
        title="irsde web demo",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.demo = state
    _add_handlers(app)
    _add_page_routes(app, state)
    _add_api_routes(app, state)
    return app


def _add_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404:
            message = "not found"
        elif exc.status_code == 405:
            message = "method not allowed"
        return _error(exc.status_code, message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(400, "invalid request")

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        log.error("error in %s %s", request.method, request.url.path, exc_info=exc)
        return _error(500, "internal server error (see the server log)")

    allowed = app.state.demo.settings.host_names

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        why = refusal(request.method, request.headers, allowed)
        response = _error(403, why) if why else await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if request.url.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response


def _asset(name: str) -> bytes:
    return resources.files(__package__).joinpath(name).read_bytes()


def _add_page_routes(app: FastAPI, state: DemoState) -> None:
    @app.get("/", include_in_schema=False)
    async def page() -> Response:
        return Response(_asset("index.html"), media_type="text/html; charset=utf-8")

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in STATIC:
            raise ApiError(404, "not found")
        return Response(_asset(name), media_type=STATIC[name])


def _add_api_routes(app: FastAPI, state: DemoState) -> None:
    s = state.settings

    @app.get("/api/config")
    async def config() -> dict[str, Any]:
        return {
            "version": __version__,
            "max_upload_bytes": s.max_upload_bytes,
            "max_pixels": s.max_pixels,
            "max_steps": s.max_steps,
            "max_samples": s.max_samples,
            "samplers": list(SAMPLERS),
            "sampler_descriptions": {n: s.description for n, s in SAMPLERS.items()},
        }

    @app.get("/api/models")
    async def models() -> list[dict[str, Any]]:
        return [m.as_json(s.max_steps) for m in state.registry.models.values()]

    @app.get("/api/examples")
    async def examples() -> list[dict[str, Any]]:
        out = []
        for name, path in state.examples.items():
            w, h = probe_image(path, 10**9)
            out.append({"name": name, "width": w, "height": h, "url": f"/api/examples/{name}"})
        return out

    @app.get("/api/examples/{name}")
    async def example(name: str) -> FileResponse:
        if name not in state.examples:
            raise ApiError(404, f"no example called {name[:40]!r}")
        return FileResponse(state.examples[name], media_type="image/png")

    @app.post("/api/restore", status_code=202)
    async def restore(request: Request) -> JSONResponse:
        return await _submit(request, state)

    @app.get("/api/jobs/{job_id}")
    async def job_status(job_id: str) -> dict[str, Any]:
        found = state.queue.get(job_id)
        if found is None:
            raise ApiError(404, "no such job (it may have expired)")
        job, pos = found
        return job.status(pos)

    @app.get("/api/jobs/{job_id}/{image}.png")
    async def job_image(job_id: str, image: str, download: int = 0) -> Response:
        found = state.queue.get(job_id)
        if found is None or image not in IMAGES:
            raise ApiError(404, "no such image (the job may have expired)")
        job = found[0]
        if job.state != "done":
            raise ApiError(409, f"the job is {job.state}; no image yet")
        if image not in job.images:
            raise ApiError(404, "no uncertainty map: it needs 2 or more samples")
        suffix = {"result": "restored", "std": "uncertainty", "input": "input"}[image]
        kind = "attachment" if download else "inline"
        disposition = f'{kind}; filename="{job.request.name}_{suffix}.png"'
        return Response(
            job.images[image],
            media_type="image/png",
            headers={"Content-Disposition": disposition, "Cache-Control": "private, max-age=600"},
        )

    @app.delete("/api/jobs/{job_id}")
    async def cancel(job_id: str) -> dict[str, Any]:
        job = state.queue.cancel(job_id)
        if job is None:
            raise ApiError(404, "no such job (it may have expired)")
        return job.status()

    @app.get("/api/health")
    async def health() -> dict[str, Any]:
        counts = state.queue.counts()
        return {
            "ok": True,
            "queued": counts["queued"],
            "running": counts["running"],
            "jobs": sum(counts.values()),
            "uploads_in_progress": state.uploads,
            "temp_files": state.temp_files(),
        }


# ---------------------------------------------------------------------------- submit
async def _submit(request: Request, state: DemoState) -> JSONResponse:
    s = state.settings
    counts = state.queue.counts()
    if counts["queued"] + counts["running"] >= s.queue_limit:
        await drain(request.stream(), s.max_upload_bytes, pace=s.pace)
        raise ApiError(503, "the server is busy; try again in a moment", {"Retry-After": "2"})
    with state.upload_slot():
        try:
            form = await receive_form(
                request.headers.get("content-type", ""),
                request.headers.get("content-length"),
                request.stream(),
                state.upload_dir,
                s.max_upload_bytes,
                s.pace,
            )
        except UploadError as err:
            unread = {"Connection": "close"} if err.status in (408, 413) else None
            raise ApiError(err.status, err.message, unread) from None  # the rest is not read
    job = await run_in_threadpool(_enqueue, state, form)
    body = job.status(0)
    body["status_url"] = f"/api/jobs/{job.id}"
    return JSONResponse(body, status_code=202)


def _enqueue(state: DemoState, form: Any) -> Any:
    """Validate the form and the image header, then queue the job (or clean up)."""
    try:
        params = parse_request(state, form.fields)
        info = state.registry.get(params["model"])
        scale = info.as_json(state.settings.max_steps)["scale"]
        example = form.fields.get("example", "")
        if form.file is not None:
            source, owned, name = form.file, True, safe_name(form.filename)
        elif example:
            if example not in state.examples:
                raise ApiError(400, f"no example called {example[:40]!r}")
            source, owned, name = state.examples[example], False, safe_name(example)
            if params["degrade"]:
                scale = 1  # a scaling task's example is shrunk first
        else:
            raise ApiError(400, "no image: send a file in field 'image' or an example name")
        try:
            probe_image(source, state.settings.max_pixels, scale)
        except UploadError as err:
            raise ApiError(err.status, err.message) from None
        request = JobRequest(source=source, owned=owned, name=name, **params)
        try:
            return state.queue.submit(request)
        except QueueFullError as err:
            raise ApiError(503, str(err), {"Retry-After": "2"}) from None
    except BaseException:
        form.discard()
        raise


# ---------------------------------------------------------------------------- threads
class BackgroundServer:
    """Serve ``app`` with uvicorn in a daemon thread (``port=0``: a free port).

    Use as a context manager; ``url`` is the base address once started.
    """

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        self.sock = bind_socket(host, port)
        self.host, self.port = self.sock.getsockname()[:2]
        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> BackgroundServer:
        self.thread.start()
        end = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > end:
                raise RuntimeError("the web demo server did not start")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        self.sock.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``; OSError when the address is unusable."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock
