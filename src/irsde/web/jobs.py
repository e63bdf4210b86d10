"""Models on offer and the restoration queue of the web demo (no FastAPI import).

One worker thread runs the jobs one after the other, so concurrent requests never hold
more than one restoration in memory; :class:`JobQueue` refuses new jobs beyond a limit
(:class:`QueueFullError`, answered 503). Each job owns its uploaded temp file, deleted
as soon as the image is decoded (or the job is dropped), and keeps its results as PNG
bytes in memory until they expire.
"""

from __future__ import annotations

import contextlib
import io
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import IrsdeError, UsageError
from ..samplers import DEFAULT_MODE, DEFAULT_SAMPLER, SAMPLERS, realistic_setting, supported
from ..tasks import get_task

log = logging.getLogger(__name__)

STATES = ("queued", "running", "done", "error", "cancelled")
FINISHED = ("done", "error", "cancelled")


# ---------------------------------------------------------------------------- models
@dataclass
class ModelInfo:
    """A model offered on the page; the network is loaded once, on first use."""

    name: str
    path: Path
    task: str | None
    arch: str
    T: int
    sampler: dict[str, Any] | None
    params: int
    embedded: bool = False
    #: the registered samplers that run on this model's SDE
    samplers: tuple[str, ...] = tuple(SAMPLERS)

    @property
    def default_sampler(self) -> str:
        """The model's stored sampler, else the toolkit's default."""
        return (self.sampler or {}).get("name") or DEFAULT_SAMPLER

    def default_steps(self, max_steps: int) -> int:
        rec = (self.sampler or {}).get("steps")
        return int(min(rec or min(self.T, 50), self.T, max_steps))

    def realistic(self, max_steps: int) -> dict[str, Any] | None:
        """The realistic mode's sampler setting for this model, or None where its SDE
        cannot run that sampler."""
        setting = realistic_setting(self.sampler)
        if setting["name"] not in self.samplers:
            return None
        return {**setting, "steps": int(min(setting["steps"], self.T, max_steps))}

    def as_json(self, max_steps: int) -> dict[str, Any]:
        return {
            "name": self.name,
            "task": self.task,
            "arch": self.arch,
            "params": self.params,
            "T": self.T,
            "embedded": self.embedded,
            "sampler": self.default_sampler,
            "samplers": list(self.samplers),
            "steps": self.default_steps(max_steps),
            "realistic": self.realistic(max_steps),
            "max_steps": min(self.T, max_steps),
            "scale": get_task(self.task).scale if self.task else 1,
        }


class ModelRegistry:
    """The models by name, with their loaded networks cached (all of them are small)."""

    def __init__(self, models: list[ModelInfo], device: str = "auto") -> None:
        self.models = {m.name: m for m in models}
        self.device = device
        self._nets: dict[str, Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_paths(
        cls,
        paths: Sequence[Path],
        dirs: Sequence[Path] = (),
        include_embedded: bool = True,
        device: str = "auto",
    ) -> ModelRegistry:
        """Embedded models, then ``dirs``' ``*.safetensors``, then ``paths`` (validated)."""
        from ..weights import available_models

        found: list[tuple[Path, bool]] = []
        if include_embedded:
            found += [(e.path, True) for e in available_models()]
        for d in dirs:
            if not Path(d).is_dir():
                raise UsageError(f"{d}: no such model folder")
            found += [(e.path, False) for e in available_models(Path(d))]
        found += [(Path(p), False) for p in paths]
        infos: list[ModelInfo] = []
        for path, embedded in found:
            name = path.stem
            taken = {m.name for m in infos}
            k = 2
            while name in taken:
                name, k = f"{path.stem}-{k}", k + 1
            infos.append(read_model_info(path, name, embedded))
        return cls(infos, device)

    def get(self, name: str) -> ModelInfo:
        return self.models[name]

    def net(self, name: str) -> Any:
        """The loaded network of model ``name`` (loaded on first use)."""
        with self._lock:
            if name not in self._nets:
                from ..models import load_model
                from ..restore import resolve_device

                info = self.models[name]
                self._nets[name] = load_model(info.path, device=resolve_device(self.device))
            return self._nets[name]


def read_model_info(path: Path, name: str, embedded: bool = False) -> ModelInfo:
    """Describe a model file (loading it once to validate it and read its settings)."""
    from ..models import load_model
    from ..restore import resolve_sde

    if not path.is_file():
        raise UsageError(f"{path}: no such model file")
    net = load_model(path, device="cpu")
    config = dict(getattr(net, "irsde_config", None) or {})
    task = config.get("task")
    if isinstance(task, list):
        raise UsageError(
            f"{path}: a universal model ({', '.join(task)}); the demo serves one-task models"
        )
    sde, _ = resolve_sde(config, task)
    params = sum(p.numel() for p in net.parameters())
    return ModelInfo(
        name=name,
        path=path,
        task=task,
        arch=str(config.get("arch", "?")),
        T=int(sde.T),
        sampler=config.get("sampler"),
        params=int(params),
        embedded=embedded,
        samplers=tuple(supported(sde)),
    )


# ---------------------------------------------------------------------------- jobs
class QueueFullError(Exception):
    """The queue holds as many jobs as allowed."""


class _Cancelled(Exception):
    pass


@dataclass
class JobRequest:
    """What to restore and how (validated by the app)."""

    model: str
    sampler: str
    steps: int
    seed: int
    samples: int
    source: Path
    owned: bool
    name: str
    degrade: bool = False
    #: ``faithful`` (the model's stored setting) or ``realistic`` (a posterior sample)
    mode: str = DEFAULT_MODE


@dataclass
class Job:
    """One restoration: its request, progress, and results (PNG bytes)."""

    request: JobRequest
    id: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    state: str = "queued"
    step: int = 0
    steps: int = 0
    sample: int = 0
    samples: int = 1
    #: geometric self-ensemble views per sample; ``draw`` counts sampler runs (views x samples)
    views: int = 1
    draw: int = 0
    message: str = ""
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    width: int = 0
    height: int = 0
    std_max: float | None = None
    images: dict[str, bytes] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)

    def status(self, position: int = 0) -> dict[str, Any]:
        """The JSON status of ``GET /api/jobs/{id}``."""
        total = max(1, self.steps * self.samples * self.views)
        done = self.draw * self.steps + self.step
        if self.state == "done":
            done = total
        end = self.finished or time.monotonic()
        out: dict[str, Any] = {
            "id": self.id,
            "state": self.state,
            "position": position,
            "step": self.step,
            "steps": self.steps,
            "sample": self.sample,
            "samples": self.samples,
            "views": self.views,
            "progress": round(done / total, 4) if self.steps else 0.0,
            "seconds": round(end - self.started, 2) if self.started else 0.0,
            "model": self.request.model,
            "sampler": self.request.sampler,
            "mode": self.request.mode,
            "name": self.request.name,
        }
        if self.message:
            out["error" if self.state == "error" else "message"] = self.message
        if self.state == "done":
            out.update(width=self.width, height=self.height, std_max=self.std_max)
            out["images"] = {k: f"/api/jobs/{self.id}/{k}.png" for k in self.images}
        return out

    def on_step(self, info: dict[str, Any]) -> None:
        """Restorer callback: record step ``i`` of ``steps``; stop when cancelled."""
        if self.cancel.is_set():
            raise _Cancelled
        self.steps = int(info.get("steps", self.steps))
        draws = int(info.get("samples", self.samples * self.views))  # the Restorer's runs
        self.views = max(1, draws // max(1, self.samples))
        self.draw = int(info.get("sample", 0))
        self.sample = self.draw % max(1, self.samples)  # posterior sample, apart from views
        self.step = int(info.get("i", 0)) + 1

    @property
    def nbytes(self) -> int:
        """Memory held by the result images."""
        return sum(len(b) for b in self.images.values())

    def discard_source(self) -> None:
        if self.request.owned:
            with contextlib.suppress(OSError):
                self.request.source.unlink()


class JobQueue:
    """Jobs by id; one worker thread; bounded queue; finished jobs expire."""

    def __init__(
        self,
        registry: ModelRegistry,
        *,
        limit: int = 4,
        ttl: float = 900.0,
        max_results: int = 32,
        max_result_bytes: int = 256_000_000,
        max_pixels: int = 4_000_000,
        tile: int = 512,
    ) -> None:
        self.registry = registry
        self.limit = limit
        self.ttl = ttl
        self.max_results = max_results
        self.max_result_bytes = max_result_bytes
        self.max_pixels = max_pixels
        self.tile = tile
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._pending: list[Job] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    # -- queue
    def submit(self, request: JobRequest) -> Job:
        """Queue a job; :class:`QueueFullError` when ``limit`` jobs are waiting or running."""
        with self._cond:
            self._sweep()
            if self._closed:
                raise QueueFullError("the server is shutting down")
            active = sum(j.state in ("queued", "running") for j in self._jobs.values())
            if active >= self.limit:
                raise QueueFullError(
                    f"the server is busy ({active} restorations queued or running); "
                    "try again in a moment"
                )
            job = Job(request, samples=request.samples, steps=0)
            self._jobs[job.id] = job
            self._pending.append(job)
            self._start()
            self._cond.notify_all()
            return job

    def get(self, job_id: str) -> tuple[Job, int] | None:
        """The job and its place in the queue (1 = next), or None when unknown/expired."""
        with self._cond:
            self._sweep()
            job = self._jobs.get(job_id)
            if job is None:
                return None
            pos = self._pending.index(job) + 1 if job in self._pending else 0
            return job, pos

    def cancel(self, job_id: str) -> Job | None:
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            job.cancel.set()
            if job in self._pending:
                self._pending.remove(job)
                self._finish(job, "cancelled", "cancelled")
            return job

    def counts(self) -> dict[str, int]:
        with self._cond:
            out = {s: 0 for s in STATES}
            for j in self._jobs.values():
                out[j.state] += 1
            return out

    def close(self, timeout: float = 10.0) -> None:
        """Cancel everything and stop the worker; queued jobs' uploads are deleted."""
        with self._cond:
            self._closed = True
            for job in list(self._jobs.values()):
                job.cancel.set()
            for job in self._pending:
                self._finish(job, "cancelled", "the server is shutting down")
            self._pending.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    # -- internals (hold self._cond)
    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._work, name="irsde-serve-worker", daemon=True
            )
            self._thread.start()

    def _finish(self, job: Job, state: str, message: str = "") -> None:
        job.state, job.message, job.finished = state, message, time.monotonic()
        job.discard_source()

    def _sweep(self) -> None:
        now = time.monotonic()
        finished = [j for j in self._jobs.values() if j.state in FINISHED]
        expired = [j for j in finished if now - (j.finished or now) > self.ttl]
        expired += finished[: max(0, len(finished) - self.max_results)]
        held = sum(j.nbytes for j in self._jobs.values())
        for job in finished:  # oldest first, until the results fit in memory again
            if held <= self.max_result_bytes:
                break
            expired.append(job)
            held -= job.nbytes
        for job in expired:
            self._jobs.pop(job.id, None)

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait(timeout=30.0)
                    self._sweep()
                if self._closed:
                    return
                job = self._pending.pop(0)
                job.state, job.started = "running", time.monotonic()
            state, message = self._run(job)
            with self._cond:
                self._finish(job, state, message)
                self._sweep()

    def _run(self, job: Job) -> tuple[str, str]:
        try:
            run_job(job, self.registry, self.max_pixels, self.tile)
            return "done", ""
        except _Cancelled:
            return "cancelled", "cancelled"
        except IrsdeError as err:
            return "error", _clean(str(err), job.request)
        except MemoryError:
            return "error", "out of memory; try a smaller image"
        except Exception:
            log.exception("job %s failed", job.id)
            return "error", "restoration failed (internal error; see the server log)"
        finally:
            job.discard_source()


def _clean(message: str, request: JobRequest) -> str:
    """An error line without the server's temp path."""
    text = message.replace(str(request.source), request.name)
    return text.splitlines()[0] if text else "restoration failed"


# ---------------------------------------------------------------------------- running
def run_job(job: Job, registry: ModelRegistry, max_pixels: int, tile: int = 512) -> None:
    """Decode, (optionally) degrade, restore and encode one job's images."""
    from ..io import load_image
    from ..restore import Restorer, colorize

    req = job.request
    info = registry.get(req.model)
    data = load_image(req.source, limit=max_pixels)
    job.discard_source()
    if req.degrade:
        data = _degraded(data, info.task, req.seed)
    restorer = Restorer(
        registry.net(req.model),
        sampler=req.sampler,
        steps=req.steps,
        mode=req.mode,
        seed=req.seed,
        samples=req.samples,
        device=registry.device,
        tile=tile,
    )
    job.steps = len(restorer.timesteps)
    job.views = restorer.ensemble
    job.images["input"] = _png(_with_alpha(data.rgb(), data.alpha))
    out, std = restorer.restore_data(data, callback=job.on_step)
    job.images["result"] = _png(_with_alpha(out.rgb(), out.alpha))
    if std is not None:
        job.std_max = round(float(std.max(initial=0.0)), 5)
        job.images["std"] = _png(colorize(std))
    job.height, job.width = out.height, out.width


def _degraded(data: Any, task: str | None, seed: int) -> Any:
    """The example image degraded for ``task`` (the low-resolution image for ``sr4``)."""
    from ..degrade import restore_input_for_task
    from ..io import as_image_data

    if task is None:
        raise IrsdeError("this model has no task, so the example cannot be degraded for it")
    rgb = restore_input_for_task(data.rgb(), task, np.random.default_rng(seed))
    return as_image_data(np.asarray(rgb, dtype=np.float32))


def _with_alpha(rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    from ..io import to_uint8

    color = to_uint8(rgb)
    if alpha is None or alpha.shape != color.shape[:2]:
        return color
    if alpha.dtype != np.uint8:
        top = float(np.iinfo(alpha.dtype).max) if alpha.dtype.kind in "ui" else 1.0
        alpha = to_uint8(alpha.astype(np.float32) / top)
    return np.concatenate([color, alpha[..., None]], axis=2)


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()
