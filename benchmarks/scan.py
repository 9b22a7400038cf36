"""Scan latency, throughput and accuracy through HTTP, against the Ray Serve application.

    .venv/bin/python benchmarks/scan.py [--requests 20] [--seconds 20] [--concurrency 4]
        [--scenes datasets/heldout-s1001 --limit 100] [--device auto] [--faces DIR] [--heic] [--phone]

Starts ``cardvault serve`` (the embedded default with the model deployments), then:

1. latency: 1-card and 9-card photos (held-out sets, a table and a binder page) posted one at a
   time (``--heic``: also the same photos as HEIC; ``--phone``: also 1- and 9-card photos of a
   phone's 12 MP, 4032 x 3024); p50/p95 from POST to the finished result
   (``Prefer: wait``, polling if it comes back 202; ``--poll`` measures the polling client instead),
   and the server's time per stage;
2. throughput: ``--concurrency`` clients posting 9-card photos for ``--seconds``: cards/s;
3. accuracy (``--scenes``, repeatable): every photo of a synthetic scene set through the API,
   matched to its labels (IoU >= 0.5): detection recall/precision, identification top-1 with
   OCR fusion (card, and card + finish), the share and precision of each tier, overall grade
   within +-1 and MAE, TCG condition agreement.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_throughput import EMAIL, PASSWORD, ROOT, free_port, login, prepare, start, stop, wait_ready

DATA = ROOT.parent / "shared" / "data"


PHONE = (4032, 3024)  # a phone's 12 MP photo


def photos(cards: int, count: int, seed: int, size: tuple[int, int] = (1280, 960)) -> list[bytes]:
    """``count`` JPEG photos of ``cards`` held-out cards each (table for 1, binder page for 9) of ``size``."""
    from pipelines.catalog_sources import load_catalogs
    from pipelines.render.backgrounds import HELD_OUT_STYLES
    from pipelines.render.scenes import compose
    from pipelines.scene_dataset import printing_pool

    catalogs = load_catalogs(DATA)
    pool = printing_pool(catalogs, "heldout")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        specs = [pool[int(i)] for i in rng.choice(len(pool), cards, replace=False)]
        layout = "table" if cards == 1 else "binder"
        scene = compose(specs, rng, size=size, layout=layout, styles=HELD_OUT_STYLES, negatives=0)
        buffer = io.BytesIO()
        scene.image.convert("RGB").save(buffer, "JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def as_heic(jpeg: bytes) -> bytes:
    """The same photo as a phone would save it: HEIC (HEVC in HEIF, quality 80)."""
    from PIL import Image
    from pillow_heif import from_pillow

    buffer = io.BytesIO()
    from_pillow(Image.open(io.BytesIO(jpeg)).convert("RGB")).save(buffer, quality=80)
    return buffer.getvalue()


WAIT = True  # ask for the result in the POST's answer (Prefer: wait); --poll turns it off


async def scan(
    http: aiohttp.ClientSession, url: str, data: bytes, poll_s: float = 0.01
) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    form = aiohttp.FormData()
    form.add_field("file", data, filename="photo.jpg", content_type="image/jpeg")
    headers = {"Prefer": "wait=30"} if WAIT else {}
    async with http.post(f"{url}/api/v1/scans", data=form, headers=headers) as response:
        # the request's own laps (read, upload, queue, wait), as `http_<lap>` beside the pipeline's stages
        laps = server_timing(response.headers.get("Server-Timing", ""))
        if response.status == 200:
            body = await response.json()
            body.setdefault("timings_ms", {}).update(laps)
            return (time.perf_counter() - start) * 1000, body
        if response.status != 202:
            raise RuntimeError(f"POST /scans: {response.status} {await response.text()}")
        location = (await response.json())["url"]
    while True:
        async with http.get(url + location) as response:
            body = await response.json()
        if body["status"] in ("done", "failed"):
            (body.get("timings_ms") or {}).update(laps)
            return (time.perf_counter() - start) * 1000, body
        await asyncio.sleep(poll_s)


def server_timing(header: str) -> dict[str, float]:
    """``read;dur=12.5, upload;dur=40.1`` -> {"http_read": 12.5, "http_upload": 40.1}."""
    laps = {}
    for entry in filter(None, (part.strip() for part in header.split(","))):
        name, _, rest = entry.partition(";")
        duration = next((p.split("=", 1)[1] for p in rest.split(";") if p.strip().startswith("dur=")), None)
        if duration is not None:
            laps[f"http_{name.strip()}"] = float(duration)
    return laps


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def latency(url: str, headers: dict[str, str], args: argparse.Namespace) -> None:
    print(f"\n{'photo':<17} {'n':>3} | {'p50 ms':>7} {'p95 ms':>7} | server median ms per stage")
    print("-" * 100)
    small = (1280, 960)
    cells = [(1, "JPEG", small), (9, "JPEG", small)] + ([(1, "HEIC", small), (9, "HEIC", small)] if args.heic else [])
    # a phone's photo; as HEIC only with one card (encoding a 12 MP HEIC here takes ~5 s)
    cells += [(1, "JPEG", PHONE), (9, "JPEG", PHONE)] if args.phone else []
    cells += [(1, "HEIC", PHONE)] if args.phone and args.heic else []
    async with aiohttp.ClientSession(headers=headers) as http:
        for cards, codec, size in cells:
            images = photos(cards, args.requests + 2, seed=cards, size=size)
            if codec == "HEIC":
                images = [as_heic(image) for image in images]
            for image in images[:2]:  # warm-up
                await scan(http, url, image)
            times, stages = [], []
            for image in images[2:]:
                elapsed, body = await scan(http, url, image)
                times.append(elapsed)
                stages.append(body["timings_ms"])
            keys = [k for k in stages[0] if k != "total"] + ["total"]
            per_stage = "  ".join(f"{k} {statistics.median(s.get(k, 0) for s in stages):.0f}" for k in keys)
            label = f"{cards}-card" + (" 12MP" if size == PHONE else "") + ("" if codec == "JPEG" else f" {codec}")
            print(f"{label:<17} {len(times):>3} | {pct(times, 0.5):>7.0f} {pct(times, 0.95):>7.0f} | {per_stage}")


async def throughput(url: str, headers: dict[str, str], args: argparse.Namespace) -> None:
    images = photos(9, 8, seed=99)
    found = 0
    done = 0
    async with aiohttp.ClientSession(headers=headers) as http:
        stop_at = time.monotonic() + args.seconds

        async def client(k: int) -> None:
            nonlocal found, done
            i = k
            while time.monotonic() < stop_at:
                _, body = await scan(http, url, images[i % len(images)], poll_s=0.05)
                found += len(body["cards"])
                done += 1
                i += args.concurrency

        start = time.perf_counter()
        await asyncio.gather(*(client(k) for k in range(args.concurrency)))
        seconds = time.perf_counter() - start
    print(
        f"\nthroughput: {args.concurrency} clients x 9-card photos for {seconds:.1f} s: "
        f"{done / seconds:.2f} photos/s, {found / seconds:.1f} cards/s"
    )


async def accuracy(url: str, headers: dict[str, str], scenes: Path, limit: int) -> dict[str, float]:
    from pipelines.evaluate_scan import score_photo, summarise

    entries = [json.loads(line) for line in (scenes / "manifest.jsonl").read_text().splitlines()][:limit]
    rows: list[dict[str, Any]] = []
    false_positives = missed = 0
    async with aiohttp.ClientSession(headers=headers) as http:
        for entry in entries:
            _, body = await scan(http, url, (scenes / entry["image"]).read_bytes(), poll_s=0.05)
            matched, fp, fn = score_photo(body["cards"], entry["cards"])
            rows += matched
            false_positives += fp
            missed += fn
    return {"photos": float(len(entries))} | summarise(rows, false_positives, missed)


def cpu_reference(runs: int = 15) -> float:
    """This machine's speed, to compare tables across machines: the median ms of the shipped
    detector on one fixed 1280x960 photo in this process, one ONNX Runtime thread (the
    development machines' speed has drifted 1.4-1.7x between sessions, every stage alike)."""
    import onnxruntime as ort
    from PIL import Image

    from models.detector import letterbox
    from models.scan import ModelPaths

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(ModelPaths().detector), options, providers=["CPUExecutionProvider"])
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 256, (960, 1280, 3), dtype=np.uint8))
    tensor = letterbox(photo, ModelPaths().detector_imgsz)[0][None]
    feed = {session.get_inputs()[0].name: tensor}
    session.run(None, feed)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20, help="photos per latency cell")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--scenes", type=Path, action="append", default=[])
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--poll", action="store_true", help="poll GET /scans/{id} instead of Prefer: wait")
    parser.add_argument("--heic", action="store_true", help="also post the latency photos as HEIC, as phones save them")
    parser.add_argument("--phone", action="store_true", help="also post 1- and 9-card photos of a phone's 12 MP")
    parser.add_argument(
        "--faces",
        type=Path,
        help="a face store drawn ahead (cardvault index-faces --out DIR): the server's face check reads it",
    )
    args = parser.parse_args()
    global WAIT
    WAIT = not args.poll
    tmp = Path(tempfile.mkdtemp(prefix="cardvault-scan-bench-"))
    env = {
        **os.environ,
        "CARDVAULT_DATA_DIR": str(tmp),
        "CARDVAULT_CATALOG_DIR": str(DATA),
        "RAY_USAGE_STATS_ENABLED": "0",
        "CARDVAULT_MASTER_KEY": "YmVuY2htYXJrLWtleS1iZW5jaG1hcmsta2V5LTEyMzQ=",
        "CARDVAULT_LOG_LEVEL": "WARNING",
        "CARDVAULT_DEMO_DATA": "false",
        "CARDVAULT_MODELS_DEVICE": args.device,
        "CARDVAULT_RATE_LIMIT_IP_CAPACITY": "1000000000",
        "CARDVAULT_RATE_LIMIT_USER_CAPACITY": "1000000000",
        "CARDVAULT_RATE_LIMIT_IP_REFILL_PER_S": "1000000",
        "CARDVAULT_RATE_LIMIT_USER_REFILL_PER_S": "1000000",
    }
    if args.faces:  # the face check's store (models.faces) lives in DATA_DIR/faces
        (tmp / "faces").symlink_to(args.faces.resolve(), target_is_directory=True)
    print(f"CPU reference (detector, 1 thread, fixed photo): {cpu_reference():.1f} ms", flush=True)
    print("preparing data (full catalogs) ...", flush=True)
    prepare(env)
    port = free_port()
    command = ["serve", "--port", str(port), "--no-demo", "--device", args.device]
    server = start([sys.executable, "-m", "serve_app.cli", *command], env)
    url = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(wait_ready(url, patience_s=300))

        async def run() -> None:
            headers = {"Authorization": f"Bearer {await login(url)}"}
            if not args.skip_latency:
                await latency(url, headers, args)
                await throughput(url, headers, args)
            for scenes in args.scenes:
                result = await accuracy(url, headers, scenes, args.limit)
                print(f"\naccuracy through the API on {scenes} (first {args.limit} photos)")
                for key, value in result.items():
                    print(f"  {key:<26} {value:.4f}")

        asyncio.run(run())
    finally:
        stop(server)
    print(f"\nCPU reference after the run: {cpu_reference():.1f} ms")
    print(f"machine: {os.cpu_count()} CPUs, device {args.device}; user {EMAIL}/{PASSWORD}")


if __name__ == "__main__":
    main()
