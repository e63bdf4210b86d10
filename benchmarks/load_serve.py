"""Bounded load test of ``irsde serve``: a real server on loopback, good and bad requests.

Starts ``python -m irsde serve`` (a tiny untrained model unless ``--model`` is given)
on a free 127.0.0.1 port with its own temporary folder, then sends ``--requests``
requests from ``--concurrency`` threads; a ``--bad-fraction`` of them are malformed or
oversized (too many bytes, streamed or announced; too many pixels; not an image; a
truncated image; bad parameters; broken multipart; interrupted uploads). It checks that
every good request is answered with a valid PNG of the right size, every bad one is
refused with a one-line message, the server does not crash, its memory (RSS, sampled
from ``/proc``) stays bounded, and no upload is left on disk. Usage::

    .venv/bin/python benchmarks/load_serve.py [--requests 200] [--concurrency 8]
        [--bad-fraction 0.2] [--model PATH] [--json load_serve.json]

Prints a summary and writes it as JSON; exits 1 when any check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from PIL import Image

BAD_KINDS = (
    "oversized",
    "oversized_chunked",
    "too_many_pixels",
    "not_image",
    "truncated",
    "bad_steps",
    "bad_sampler",
    "unknown_model",
    "no_image",
    "not_multipart",
    "broken_multipart",
    "interrupted",
)


# ---------------------------------------------------------------------------- HTTP
def encode_multipart(
    fields: dict[str, str], file: tuple[str, bytes] | None = None
) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body and its content type; ``file`` = (filename, bytes)."""
    boundary = f"----irsde{random.getrandbits(64):016x}"
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    if file is not None:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; '
            f'filename="{file[0]}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        )
        parts.append(head.encode() + file[1] + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def request(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60.0,
    chunked: bool = False,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request -> (status, headers, body); connection errors raise OSError."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if chunked and body is not None:
            chunks = (body[i : i + 16384] for i in range(0, len(body), 16384))
            conn.request(method, path, body=chunks, headers=headers or {}, encode_chunked=True)
        else:
            conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def error_of(data: bytes) -> str:
    """The ``error`` line of a JSON error answer, or '' when it is not one."""
    try:
        msg = json.loads(data).get("error", "")
    except (ValueError, AttributeError):
        return ""
    return msg if isinstance(msg, str) and "\n" not in msg and "Traceback" not in msg else ""


# ---------------------------------------------------------------------------- images
def png_bytes(arr: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


def random_image(rng: random.Random, lo: int = 24, hi: int = 56) -> tuple[bytes, int, int, str]:
    w, h = rng.randint(lo, hi), rng.randint(lo, hi)
    gen = np.random.default_rng(rng.getrandbits(32))
    arr = (gen.random((h, w, 3)) * 255).astype(np.uint8)
    fmt = rng.choice(["PNG", "JPEG"])
    return png_bytes(arr, fmt), w, h, "photo." + ("png" if fmt == "PNG" else "jpg")


def make_tiny_model(path: Path) -> Path:
    """A tiny untrained denoising model (fast on a CPU; results are not meaningful)."""
    from irsde.models import save_model
    from irsde.nets import build_network

    net = build_network(
        "ConditionalNAFNet", width=8, enc_blocks=[1], middle_blocks=1, dec_blocks=[1]
    )
    sde = {"max_sigma": 10, "T": 100, "schedule": "cosine", "eps": 0.005}
    sampler = {"name": "posterior", "steps": 5, "spacing": "uniform"}
    return save_model(net, path, sde=sde, task="denoise", sampler=sampler)


# ---------------------------------------------------------------------------- server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    proc: subprocess.Popen
    url: str
    tmp: Path
    log: Path


def start_server(model: Path, work: Path, args: argparse.Namespace) -> Server:
    """``python -m irsde serve`` on a free loopback port, TMPDIR = its own folder."""
    tmp = work / "server-tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cmd = [
        sys.executable, "-m", "irsde", "-q", "serve", "--host", "127.0.0.1",
        "--port", str(port), "--model", str(model), "--no-embedded", "--device", "cpu",
        "--max-upload-mb", str(args.max_upload_mb), "--max-pixels", str(args.max_pixels),
        "--queue-limit", str(args.queue_limit), "--max-steps", "20",
    ]  # fmt: skip
    env = {**os.environ, "TMPDIR": str(tmp), "OMP_NUM_THREADS": str(args.threads)}
    log = work / "server.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    end = time.monotonic() + args.start_timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            if request("GET", url + "/api/health", timeout=2)[0] == 200:
                return Server(proc, url, tmp, log)
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start in time")


def rss_mb(pid: int) -> float | None:
    """Resident memory of ``pid`` in MB (Linux ``/proc``), None when unavailable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class RssMonitor(threading.Thread):
    """Samples a process's RSS every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, float]] = []
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            v = rss_mb(self.pid)
            if v is not None:
                self.samples.append((time.monotonic(), v))
            self.stop_event.wait(self.interval)

    def peak(self, since: float = 0.0, until: float = float("inf")) -> float:
        vals = [v for t, v in self.samples if since <= t <= until]
        return max(vals) if vals else 0.0


# ---------------------------------------------------------------------------- requests
class Client:
    """Sends one planned request and judges the answer."""

    def __init__(self, url: str, args: argparse.Namespace, seed: int) -> None:
        self.url, self.args = url, args
        self.rng = random.Random(seed)
        self.retries = 0
        self._samplers: list[str] | None = None

    def post(self, body: bytes, ctype: str, chunked: bool = False) -> tuple[int, dict, bytes]:
        """POST /api/restore, retrying while the server says it is busy (503)."""
        end = time.monotonic() + self.args.request_timeout
        while True:
            status, headers, data = request(
                "POST", self.url + "/api/restore", body, {"Content-Type": ctype}, chunked=chunked
            )
            if status != 503 or time.monotonic() > end:
                return status, headers, data
            self.retries += 1
            time.sleep(
                min(2.0, float(headers.get("retry-after", "1"))) * self.rng.uniform(0.1, 0.5)
            )

    def wait(self, job_id: str) -> dict:
        end = time.monotonic() + self.args.request_timeout
        while time.monotonic() < end:
            status, _, data = request("GET", f"{self.url}/api/jobs/{job_id}")
            if status != 200:
                return {"state": "lost", "error": error_of(data) or f"HTTP {status}"}
            job = json.loads(data)
            if job["state"] not in ("queued", "running"):
                return job
            time.sleep(0.05)
        return {"state": "timeout"}

    def samplers(self) -> list[str]:
        """The default sampler and every sampler the served model can run (its SDE's)."""
        from irsde.samplers import DEFAULT_SAMPLER

        if self._samplers is None:
            status, _, data = request("GET", self.url + "/api/models")
            runnable = json.loads(data)[0]["samplers"] if status == 200 else []
            self._samplers = [DEFAULT_SAMPLER, *runnable]
        return self._samplers

    def good(self) -> str:
        """'' when a valid request is restored and its PNG has the right size."""
        img, w, h, name = random_image(self.rng)
        fields = {"model": "tiny", "steps": str(self.rng.randint(1, 3)), "seed": "7"}
        fields["samples"] = "2" if self.rng.random() < 0.2 else "1"
        fields["sampler"] = self.rng.choice(self.samplers())
        body, ctype = encode_multipart(fields, (name, img))
        status, _, data = self.post(body, ctype)
        if status != 202:
            return f"good request got HTTP {status}: {data[:120]!r}"
        job = self.wait(json.loads(data)["id"])
        if job.get("state") != "done":
            return f"good request ended {job.get('state')}: {job.get('error', '')}"
        status, _, png = request("GET", self.url + job["images"]["result"])
        try:
            size = Image.open(io.BytesIO(png)).size if status == 200 else None
        except OSError:
            size = None
        return "" if size == (w, h) else f"bad result: HTTP {status}, size {size} != {(w, h)}"

    def bad(self, kind: str) -> str:
        """'' when a malformed or oversized request is refused with a message."""
        fields = {"model": "tiny", "steps": "2"}
        img = random_image(self.rng)[0]
        chunked = False
        if kind in ("oversized", "oversized_chunked"):
            side = 400 if kind == "oversized" else 320
            noise = np.random.default_rng(self.rng.getrandbits(32)).random((side, side, 3))
            body, ctype = encode_multipart(
                fields, ("big.png", png_bytes((noise * 255).astype(np.uint8)))
            )
            chunked = kind == "oversized_chunked"
        elif kind == "too_many_pixels":
            flat = np.zeros((700, 700, 3), np.uint8)
            body, ctype = encode_multipart(fields, ("huge.png", png_bytes(flat)))
        elif kind == "not_image":
            body, ctype = encode_multipart(fields, ("x.png", os.urandom(2000)))
        elif kind == "truncated":
            body, ctype = encode_multipart(fields, ("cut.png", img[: len(img) // 2]))
        elif kind == "interrupted":
            return self.interrupted(img)
        else:
            bad_fields = {
                "bad_steps": {**fields, "steps": self.rng.choice(["0", "abc", "100000", "-3"])},
                "bad_sampler": {**fields, "sampler": "euler; rm -rf /"},
                "unknown_model": {**fields, "model": "../../etc/passwd"},
            }
            if kind in bad_fields:
                body, ctype = encode_multipart(bad_fields[kind], ("x.png", img))
            elif kind == "no_image":
                body, ctype = encode_multipart(fields)
            elif kind == "not_multipart":
                body, ctype = img, "image/png"
            else:  # broken_multipart
                body, ctype = (
                    b"--nope\r\ngarbage" + os.urandom(300),
                    "multipart/form-data; boundary=zzz",
                )
        status, _, data = self.post(body, ctype, chunked=chunked)
        if status == 202:  # only a truncated image may pass the header check
            job = self.wait(json.loads(data)["id"])
            ok = job.get("state") == "error" and job.get("error")
            return "" if ok else f"{kind}: accepted, ended {job.get('state')}"
        if 400 <= status < 500 and error_of(data):
            return ""
        return f"{kind}: HTTP {status} {data[:120]!r}"

    def interrupted(self, img: bytes) -> str:
        """Send half an upload, then hang up; the server must carry on (checked later)."""
        body, ctype = encode_multipart({"model": "tiny"}, ("x.png", img * 20))
        parts = urlsplit(self.url)
        with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
            head = (
                f"POST /api/restore HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            s.sendall(head.encode() + body[: len(body) // 2])
        return ""


def run_load(url: str, args: argparse.Namespace) -> dict:
    """Send the planned requests; counts and the failures (first 20)."""
    n = args.requests
    n_bad = round(n * args.bad_fraction)
    plan = ["good"] * (n - n_bad) + [BAD_KINDS[i % len(BAD_KINDS)] for i in range(n_bad)]
    random.Random(args.seed).shuffle(plan)
    clients: list[Client] = []
    lock = threading.Lock()

    def one(i: int) -> tuple[str, str]:
        client = Client(url, args, args.seed * 100_003 + i)
        with lock:
            clients.append(client)
        kind = plan[i]
        try:
            return kind, client.good() if kind == "good" else client.bad(kind)
        except Exception as err:  # connection refused/reset: the server failed
            return kind, f"{kind}: {type(err).__name__}: {err}"

    with ThreadPoolExecutor(args.concurrency) as pool:
        outcomes = list(pool.map(one, range(n)))
    failures = [msg for _, msg in outcomes if msg]
    good = [msg for kind, msg in outcomes if kind == "good"]
    bad = [msg for kind, msg in outcomes if kind != "good"]
    return {
        "requests": n,
        "concurrency": args.concurrency,
        "good_sent": len(good),
        "good_answered": sum(not m for m in good),
        "bad_sent": len(bad),
        "bad_refused": sum(not m for m in bad),
        "failures": len(failures),
        "failure_examples": failures[:20],
        "retries_503": sum(c.retries for c in clients),
    }


def leftover_files(tmp: Path) -> list[str]:
    """Files left in the server's upload folders."""
    return [str(p) for d in tmp.glob("irsde-serve-*") for p in d.rglob("*") if p.is_file()]


def stop_server(server: Server, timeout: float = 30.0) -> int | None:
    server.proc.send_signal(signal.SIGINT)
    try:
        return server.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()
        return None


# ---------------------------------------------------------------------------- attacks
def _zeros_deflated(n: int) -> bytes:
    enc = zlib.compressobj(9)
    parts = [enc.compress(bytes(1 << 20)) for _ in range(n >> 20)]
    return b"".join([*parts, enc.flush()])


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb_uploads(inflated: int) -> dict[str, bytes]:
    """Tiny files whose compressed data inflates to ``inflated`` bytes: a 1x1 16-bit PNG
    (image data), a 2x2 16-bit PNG (colour profile) and a 1x1 16-bit zlib TIFF (strip)."""
    zeros = _zeros_deflated(inflated)
    sig = b"\x89PNG\r\n\x1a\n"
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 16, 2, 0, 0, 0))
    ihdr2 = _chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 16, 2, 0, 0, 0))
    end = _chunk(b"IEND", b"")
    png = sig + ihdr + _chunk(b"IDAT", zeros) + end
    icc = sig + ihdr2 + _chunk(b"iCCP", b"p\x00\x00" + zeros)
    icc += _chunk(b"IDAT", zlib.compress(bytes(2 * 13))) + end
    tags = [(256, 3, 1), (257, 3, 1), (258, 3, 16), (259, 3, 8), (262, 3, 1), (273, 4, 8),
            (277, 3, 1), (278, 3, 1), (279, 4, len(zeros))]  # fmt: skip
    ifd = struct.pack("<H", len(tags))
    for tag, typ, value in tags:
        ifd += struct.pack(
            "<HHIHH" if typ == 3 else "<HHII", tag, typ, 1, value, *([0] * (typ == 3))
        )
    tif = b"II*\x00" + struct.pack("<I", 8 + len(zeros)) + zeros + ifd + struct.pack("<I", 0)
    return {"bomb16.png": png, "icc_bomb16.png": icc, "bomb_zlib.tif": tif}


def _stalled_upload(url: str) -> socket.socket:
    """A connection that sends an upload's head and 300 bytes of its body, then waits."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=120)
    body, ctype = encode_multipart({}, ("a.png", b"\x00" * 100_000))
    head = (
        f"POST /api/restore HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body[:300])
    return sock


def run_attacks(url: str, monitor: RssMonitor, args: argparse.Namespace) -> dict:
    """Bomb uploads (RSS peak above the start) and stalled uploads holding every slot
    (how long until each is dropped, and whether others are served meanwhile)."""
    out: dict = {"bombs": {}}
    rng = random.Random(args.seed)
    for name, data in bomb_uploads(args.bomb_mib << 20).items():
        before = monitor.peak()
        t0 = time.monotonic()
        status, _, body = _post(url, (name, data))
        answer = json.loads(body)
        if status == 202:
            answer = wait_job(url, answer["id"], args.request_timeout)
        time.sleep(0.3)
        out["bombs"][name] = {
            "upload_bytes": len(data),
            "status": status,
            "state": answer.get("state"),
            "error": answer.get("error"),
            "rss_rise_mb": round(max(0.0, monitor.peak(since=t0) - before), 1),
        }
    stalled = [_stalled_upload(url) for _ in range(args.stalled)]
    t0 = time.monotonic()
    time.sleep(0.5)
    good, *_ = random_image(rng)
    during = _post(url, ("a.png", good))
    dropped = []
    for sock in stalled:
        with contextlib.suppress(OSError):
            first = sock.recv(200)
            dropped.append((round(time.monotonic() - t0, 2), first.split(b"\r\n")[0].decode()))
        sock.close()
    after = _post(url, ("a.png", good))
    out["stalled"] = {
        "connections": args.stalled,
        "status_while_stalled": during[0],
        "dropped_after_s": [d[0] for d in dropped],
        "answers": sorted({d[1] for d in dropped}),
        "status_after": after[0],
    }
    return out


def _post(url: str, file: tuple[str, bytes]) -> tuple[int, dict[str, str], bytes]:
    body, ctype = encode_multipart({"steps": "1"}, file)
    return request("POST", url + "/api/restore", body, {"Content-Type": ctype})


def wait_job(url: str, job_id: str, timeout: float) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = json.loads(request("GET", f"{url}/api/jobs/{job_id}")[2])
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.05)
    return {"state": "timeout"}


def run(args: argparse.Namespace) -> dict:
    """Start the server, send the load, check and summarize."""
    with tempfile.TemporaryDirectory(prefix="irsde-load-") as work_dir:
        work = Path(work_dir)
        model = Path(args.model) if args.model else make_tiny_model(work / "tiny.safetensors")
        server = start_server(model, work, args)
        monitor = RssMonitor(server.proc.pid)
        monitor.start()
        time.sleep(0.3)
        rss_start = monitor.peak()
        t0 = time.monotonic()
        try:
            summary = run_load(server.url, args)
            mid = t0 + (time.monotonic() - t0) / 2
            if args.attacks:
                summary["attacks"] = run_attacks(server.url, monitor, args)
            time.sleep(0.5)  # let interrupted uploads be noticed
            health = json.loads(request("GET", server.url + "/api/health")[2])
            alive = server.proc.poll() is None
        finally:
            seconds = time.monotonic() - t0
            rss_end = rss_mb(server.proc.pid) or 0.0
            code = stop_server(server)
            monitor.stop_event.set()
            monitor.join()
        left = leftover_files(server.tmp)
        summary.update(
            seconds=round(seconds, 1),
            requests_per_s=round(args.requests / seconds, 2),
            server_alive=alive,
            server_exit_code=code,
            temp_files_at_end=health.get("temp_files"),
            uploads_left_after_exit=len(left),
            upload_dirs_left_after_exit=len(list(server.tmp.glob("irsde-serve-*"))),
            rss_start_mb=round(rss_start, 1),
            rss_peak_mb=round(monitor.peak(), 1),
            rss_peak_first_half_mb=round(monitor.peak(until=mid), 1),
            rss_peak_second_half_mb=round(monitor.peak(since=mid), 1),
            rss_end_mb=round(rss_end, 1),
        )
    growth = summary["rss_peak_second_half_mb"] - summary["rss_peak_first_half_mb"]
    summary["rss_growth_mb"] = round(growth, 1)
    summary["checks"] = {
        "no_crash": summary["server_alive"] and summary["server_exit_code"] == 0,
        "every_good_answered": summary["good_answered"] == summary["good_sent"],
        "every_bad_refused": summary["bad_refused"] == summary["bad_sent"],
        "memory_bounded": growth <= args.rss_growth_mb
        and summary["rss_peak_mb"] <= args.rss_limit_mb,
        "uploads_cleaned": summary["temp_files_at_end"] == 0
        and summary["uploads_left_after_exit"] == 0
        and summary["upload_dirs_left_after_exit"] == 0,
    }
    if "attacks" in summary:
        att = summary["attacks"]
        summary["checks"]["bombs_refused_in_bounded_memory"] = all(
            b["state"] == "error" or 400 <= b["status"] < 500 for b in att["bombs"].values()
        ) and all(b["rss_rise_mb"] <= args.bomb_rss_mb for b in att["bombs"].values())
        summary["checks"]["stalled_uploads_dropped"] = (
            att["stalled"]["status_after"] == 202
            and len(att["stalled"]["dropped_after_s"]) == args.stalled
        )
    summary["ok"] = all(summary["checks"].values()) and summary["failures"] == 0
    return summary


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--bad-fraction", type=float, default=0.2)
    p.add_argument("--model", help="model file (default: a tiny untrained one)")
    p.add_argument("--max-upload-mb", type=float, default=0.2)
    p.add_argument("--max-pixels", type=int, default=250_000)
    p.add_argument("--queue-limit", type=int, default=4)
    p.add_argument("--threads", type=int, default=1, help="OMP threads of the server")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--request-timeout", type=float, default=120.0)
    p.add_argument("--start-timeout", type=float, default=90.0)
    p.add_argument("--rss-growth-mb", type=float, default=150.0, help="allowed 2nd-half growth")
    p.add_argument("--rss-limit-mb", type=float, default=2000.0, help="allowed peak RSS")
    p.add_argument("--attacks", action="store_true", help="then bomb and stalled uploads")
    p.add_argument("--bomb-mib", type=int, default=300, help="what each bomb inflates to")
    p.add_argument("--bomb-rss-mb", type=float, default=50.0, help="allowed RSS rise per bomb")
    p.add_argument("--stalled", type=int, default=4, help="stalled upload connections")
    p.add_argument(
        "--json",
        type=lambda s: Path(s) if s else None,
        default=Path("load_serve.json"),
        help="summary file ('': none)",
    )
    return p.parse_args(argv)


def print_summary(s: dict) -> None:
    print(
        f"requests sent {s['requests']} ({s['concurrency']} concurrent) in {s['seconds']} s; "
        f"good answered {s['good_answered']}/{s['good_sent']}; "
        f"bad refused {s['bad_refused']}/{s['bad_sent']}; failures {s['failures']}; "
        f"503 retries {s['retries_503']}"
    )
    print(
        f"server RSS: start {s['rss_start_mb']} MB, peak {s['rss_peak_mb']} MB "
        f"(1st half {s['rss_peak_first_half_mb']}, 2nd half {s['rss_peak_second_half_mb']}), "
        f"end {s['rss_end_mb']} MB; temp files left {s['temp_files_at_end']}, "
        f"after exit {s['uploads_left_after_exit']}; exit code {s['server_exit_code']}"
    )
    for name, b in s.get("attacks", {}).get("bombs", {}).items():
        print(
            f"bomb {name} ({b['upload_bytes']} bytes): HTTP {b['status']}, job {b['state']}, "
            f"server RSS rise {b['rss_rise_mb']} MB; {b['error']}"
        )
    if "attacks" in s:
        st = s["attacks"]["stalled"]
        print(
            f"{st['connections']} stalled uploads: HTTP {st['status_while_stalled']} meanwhile, "
            f"dropped after {st['dropped_after_s']} s ({', '.join(st['answers'])}), "
            f"then HTTP {st['status_after']}"
        )
    for msg in s["failure_examples"]:
        print(f"  failure: {msg}")
    bad = [k for k, v in s["checks"].items() if not v]
    print("all checks passed" if s["ok"] else f"FAILED: {', '.join(bad) or 'failures'}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    summary = run(args)
    print_summary(summary)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
        print(f"summary written to {args.json}")
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
