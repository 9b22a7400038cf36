"""The scan's model work on a GPU: every model call a scan makes, replayed on the GPU.

``record`` (any machine, CPU): scans photos of a scene set in process, as ``cardvault evaluate
--pipeline`` does, and writes each photo's model calls (which model, the input's shape) and its
cards found to ``workload.json``; beside it, the OCR models as the scan builds them (the PP-OCR text
detector, and the recognizer cut down to a card's characters), weights stored in fp16 to travel.

``replay`` (the GPU machine): each model of the scan converted from its ONNX file to torch
(``onnx2torch``) on CUDA, in fp32 and fp16, replaying the workload (inputs of the recorded shapes):
- *as recorded*: each photo's calls one after another, in the order and batches the scan made them,
  ``--streams`` photos at once (threads, each on its own CUDA stream): the scan service without
  batching across requests;
- *merged*: the calls of one model and shape from ``--merge`` photos in one batch, as ``@serve.batch``
  on the deployments gathers them across requests.
It prints, per model, the share of the GPU time and, per mode, photos/s and cards/s on the models
alone: the CPU's part of a scan (decoding the photo, warping each card, OCR post-processing, fusion)
is not in it. The scan serves the models on ONNX Runtime, whose CUDA provider is a 255 MB wheel:
more than the 64 MiB that travels to the lent GPU machine with this repository, whose image holds
torch with CUDA and the CPU build of ONNX Runtime. So the same weights run there through torch.

    python benchmarks/gpu_models.py record --scenes datasets/heldout-s1001 --photos 40 --out runs/gpu-workload
    python benchmarks/gpu_models.py replay --workload runs/gpu-workload --streams 8 --merge 32
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OURS = {  # the scan's own models, as shipped (they travel with the repository)
    "detector": ROOT / "models" / "detector" / "detector.onnx",
    "identifier": ROOT / "models" / "identifier" / "identifier.onnx",
    "grader": ROOT / "models" / "grader" / "grader.onnx",
    "wear": ROOT / "models" / "wear" / "wear.onnx",
    "corners": ROOT / "models" / "corners" / "corners.onnx",
}
PACKED = ("ocr_det", "ocr_rec")  # the OCR models, packed by ``record`` beside the workload


class Recording:
    """An ONNX Runtime session that notes each call's input shape under ``name`` in ``calls``, and the
    CPU seconds of its calls in ``spent`` (the calling thread's: the session must run in it, one
    intra-op thread)."""

    def __init__(self, session: Any, name: str, calls: list[tuple[str, list[int]]], spent: list[float]) -> None:
        self._session = session
        self._name = name
        self._calls = calls
        self._spent = spent

    def run(self, names: Any, feeds: dict[str, np.ndarray], *args: Any, **kwargs: Any) -> Any:
        (array,) = feeds.values()
        self._calls.append((self._name, list(array.shape)))
        start = time.thread_time()
        try:
            return self._session.run(names, feeds, *args, **kwargs)
        finally:
            self._spent.append(time.thread_time() - start)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._session, attr)


def pack(model_bytes: bytes, out: Path) -> None:
    """An ONNX model with its float weights stored as fp16 (``out``.onnx without them, ``out``.npz)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(model_bytes)
    weights = {}
    for init in model.graph.initializer:
        if init.data_type == onnx.TensorProto.FLOAT:
            weights[init.name] = numpy_helper.to_array(init).astype(np.float16)
            init.ClearField("raw_data")
            del init.float_data[:]
    onnx.save(model, str(out.with_suffix(".onnx")))
    np.savez_compressed(out.with_suffix(".npz"), allow_pickle=False, **weights)


def unpack(out: Path) -> Any:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(out.with_suffix(".onnx")))
    weights = np.load(out.with_suffix(".npz"))
    for init in model.graph.initializer:
        if init.name in weights:
            init.CopyFrom(numpy_helper.from_array(weights[init.name].astype(np.float32), init.name))
    return model


def record(scenes: Path, photos: int, out: Path, passes: int = 2) -> None:
    import asyncio

    import onnxruntime as ort

    from models.identify import session_options
    from models.scan import LocalRunners, ModelPaths, ScanEngine, scan_bytes
    from serve_app.services.scanner import load_matcher
    from serve_app.settings import get_settings

    runners = LocalRunners(device="cpu", threads=1)  # each model in its caller's thread: its CPU time is that thread's
    runners.detector.session = ort.InferenceSession(
        str(ModelPaths().detector), session_options(1), providers=["CPUExecutionProvider"]
    )
    calls: list[tuple[str, list[int]]] = []
    spent: list[float] = []
    runners.detector.session = Recording(runners.detector.session, "detector", calls, spent)
    runners.identifier.session = Recording(runners.identifier.session, "identifier", calls, spent)
    runners.grader.session = Recording(runners.grader.session, "grader", calls, spent)
    if runners.grader.wear is not None:
        runners.grader.wear.session = Recording(runners.grader.wear.session, "wear", calls, spent)
    if runners.corner_net is not None:
        runners.corner_net.session = Recording(runners.corner_net.session, "corners", calls, spent)
    rec_model: Any = runners.ocr.engine.text_rec  # loaded by CardOCR
    det, rec = runners.ocr.text_detector.session, rec_model.session
    text_detector = Path(det.session._model_path)  # the file rapidocr ships
    det.session = Recording(det.session, "ocr_det", calls, spent)
    rec.session = Recording(rec.session, "ocr_rec", calls, spent)
    engine = ScanEngine(runners, load_matcher(get_settings().resolved_catalog_dir()))
    entries = [json.loads(line) for line in (scenes / "manifest.jsonl").read_text().splitlines()][:photos]
    for entry in entries[: 0 if passes < 2 else len(entries)]:  # every pass but the last, untimed
        for _ in range(passes - 1):
            asyncio.run(scan_bytes(engine, (scenes / entry["image"]).read_bytes()))
    workload = []
    for entry in entries:
        calls.clear()
        spent.clear()
        start = time.process_time()
        payload = asyncio.run(scan_bytes(engine, (scenes / entry["image"]).read_bytes()))
        cpu = time.process_time() - start
        workload.append(
            {
                "image": entry["image"],
                "cards": len(payload.result["cards"]),
                "calls": list(calls),
                "cpu_s": cpu,  # the whole scan's CPU seconds (every thread of this process)
                "models_cpu_s": sum(spent),  # of which in the models
            }
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "workload.json").write_text(json.dumps({"scenes": str(scenes), "photos": workload}))
    from models.ocr import card_recognizer

    pack(text_detector.read_bytes(), out / "ocr_det")
    pack(card_recognizer(runners.ocr.recognizer_path)[0], out / "ocr_rec")
    counts = Counter(name for photo in workload for name, _ in photo["calls"])
    cards = sum(photo["cards"] for photo in workload)
    print(f"{len(workload)} photos, {cards} cards; calls per photo:")
    for name, n in counts.most_common():
        items = sum(shape[0] for photo in workload for m, shape in photo["calls"] if m == name)
        print(f"  {name:10s} {n / len(workload):5.2f} calls, {items / len(workload):6.2f} items")
    # the first scan of the first pass also draws the card backs and loads what the engine loads lazily
    timed = workload[1:] if passes < 2 else workload
    outside = sum(p["cpu_s"] - p["models_cpu_s"] for p in timed)
    timed_cards = sum(p["cards"] for p in timed)
    print(
        f"CPU seconds per card ({len(timed)} photos, pass {passes}, one thread per model): whole scan "
        f"{1000 * sum(p['cpu_s'] for p in timed) / timed_cards:.0f} ms, outside the models "
        f"{1000 * outside / timed_cards:.0f} ms: 500 cards/s needs {500 * outside / timed_cards:.0f} such cores "
        "beside the GPU"
    )


def explicit_pads(model: Any) -> None:
    """``auto_pad`` SAME_UPPER / SAME_LOWER as explicit pads (onnx2torch takes only those), for inputs
    whose sides divide by the stride (every shape the scan feeds these models)."""
    import onnx

    for node in model.graph.node:
        attrs = {a.name: a for a in node.attribute}
        mode = attrs.get("auto_pad")
        if mode is None or mode.s not in (b"SAME_UPPER", b"SAME_LOWER"):
            continue
        kernel = list(attrs["kernel_shape"].ints)
        strides = list(attrs["strides"].ints) if "strides" in attrs else [1] * len(kernel)
        dilations = list(attrs["dilations"].ints) if "dilations" in attrs else [1] * len(kernel)
        totals = [max((k - 1) * d + 1 - s, 0) for k, s, d in zip(kernel, strides, dilations, strict=True)]
        small = [t // 2 for t in totals]
        big = [t - t // 2 for t in totals]
        begin, end = (small, big) if mode.s == b"SAME_UPPER" else (big, small)
        node.attribute.remove(mode)
        node.attribute.append(onnx.helper.make_attribute("pads", begin + end))


def constants_as_weights(model: Any) -> None:
    """Constant nodes as initializers, and no trailing empty inputs (onnx2torch reads a Clip's bounds
    only from initializers, and takes an empty name for a bound)."""
    from onnx import numpy_helper

    for node in list(model.graph.node):
        while node.input and node.input[-1] == "":
            node.input.pop()
        if node.op_type == "Constant" and node.attribute[0].name == "value":
            array = numpy_helper.to_array(node.attribute[0].t)
            model.graph.initializer.append(numpy_helper.from_array(array, node.output[0]))
            model.graph.node.remove(node)


def to_torch(model: Any) -> Any:
    from onnx import defs
    from onnx2torch import convert
    from onnx2torch.node_converters.registry import _CONVERTER_REGISTRY, OperationDescription

    # onnx2torch knows Split and Resize up to their opset-13 forms; their opset-18 forms add attributes
    # (Split's num_outputs: equal parts, as the 13 form splits by its outputs; Resize's antialias, off
    # here) that the older converters read as the exports mean them (tests/pipelines/test_gpu_replay.py)
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    for op in {node.op_type for node in model.graph.node}:
        since = defs.get_schema(op, opset).since_version
        wanted = OperationDescription(domain="", operation_type=op, version=since)
        older = [d.version for d in _CONVERTER_REGISTRY if d.operation_type == op and d.domain == ""]
        if wanted not in _CONVERTER_REGISTRY and op in ("Split", "Resize") and older:
            _CONVERTER_REGISTRY[wanted] = _CONVERTER_REGISTRY[
                OperationDescription(domain="", operation_type=op, version=max(older))
            ]
    explicit_pads(model)
    constants_as_weights(model)
    return convert(model).eval()


def load_sources(workload: Path) -> dict[str, Any]:
    """The scan's ONNX models: ours as shipped, the OCR's as ``record`` packed them."""
    import onnx

    return {name: onnx.load(str(path)) for name, path in OURS.items()} | {
        name: unpack(workload / name) for name in PACKED
    }


def load_models(sources: dict[str, Any]) -> dict[str, Any]:
    """Each source converted to torch (``to_torch`` rewrites a copy: the source stays as it was)."""
    import onnx

    converted = {}
    for name, source in sources.items():
        model = onnx.ModelProto()
        model.CopyFrom(source)
        converted[name] = to_torch(model)
    return converted


def check(models: dict[str, Any], sources: dict[str, Any], shapes: dict[str, list[int]]) -> dict[str, float]:
    """Each converted model's largest difference from ONNX Runtime (CPU) on one input of the workload."""
    import onnxruntime as ort
    import torch

    diffs = {}
    for name, module in models.items():
        session = ort.InferenceSession(sources[name].SerializeToString(), providers=["CPUExecutionProvider"])
        x = np.random.default_rng(0).random([min(2, shapes[name][0]), *shapes[name][1:]], dtype=np.float32)
        ref = session.run(None, {session.get_inputs()[0].name: x})[0]
        with torch.no_grad():
            out = module.cpu()(torch.from_numpy(x))
        out = out[0] if isinstance(out, (list, tuple)) else out
        diffs[name] = float(np.abs(ref - out.numpy()).max())
    return diffs


class Replayer:
    """The scan's models on one device and dtype, fed inputs of the workload's shapes."""

    def __init__(self, nets: dict[str, Any], device: Any, dtype: Any) -> None:
        self.nets = nets
        self.device = device
        self.dtype = dtype
        self.cuda = device.type == "cuda"
        self.inputs: dict[tuple[str, tuple[int, ...]], Any] = {}
        self.per_model: dict[str, float] = defaultdict(float)  # seconds, calls timed one by one

    def synchronize(self) -> None:
        import torch

        if self.cuda:
            torch.cuda.synchronize()

    def call(self, name: str, shape: list[int]) -> None:
        import torch

        key = (name, tuple(shape))
        if key not in self.inputs:
            self.inputs[key] = torch.rand(shape, device=self.device, dtype=self.dtype)
        self.nets[name](self.inputs[key])

    def photo(self, photo: dict[str, Any], *, timed: bool = False) -> None:
        """One photo's calls in the order the scan made them (``timed``: each waited for and timed)."""
        for name, shape in photo["calls"]:
            start = time.perf_counter()
            self.call(name, shape)
            if timed:
                self.synchronize()
                self.per_model[name] += time.perf_counter() - start

    def as_recorded(self, workload: list[dict[str, Any]], streams: int, rounds: int) -> float:
        """Seconds for ``rounds`` passes over the photos, ``streams`` photos at a time (threads, each
        on its own CUDA stream, taking the next photo when done)."""
        import torch

        queue = [p for _ in range(rounds) for p in workload][::-1]
        lock = threading.Lock()

        def worker() -> None:
            stream = torch.cuda.Stream() if self.cuda else None  # type: ignore[no-untyped-call]
            with torch.inference_mode(), torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext():
                while True:
                    with lock:
                        if not queue:
                            return
                        photo = queue.pop()
                    self.photo(photo)
                    if stream is not None:
                        stream.synchronize()

        threads = [threading.Thread(target=worker) for _ in range(streams)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.synchronize()
        return time.perf_counter() - start

    def merged(self, workload: list[dict[str, Any]], merge: int, rounds: int) -> float:
        """Seconds for ``rounds`` passes over the photos, the calls of a model and input shape from
        ``merge`` photos at a time made as one batch."""
        start = time.perf_counter()
        for _ in range(rounds):
            for i in range(0, len(workload), merge):
                group: dict[tuple[str, tuple[int, ...]], int] = defaultdict(int)
                for photo in workload[i : i + merge]:
                    for name, shape in photo["calls"]:
                        group[(name, tuple(shape[1:]))] += shape[0]
                for (name, rest), n in group.items():
                    self.call(name, [n, *rest])
        self.synchronize()
        return time.perf_counter() - start


def replay(
    workload_dir: Path, streams: int, merge: int, rounds: int, out: Path | None, device_name: str = "cuda"
) -> dict[str, Any]:
    import torch

    workload = json.loads((workload_dir / "workload.json").read_text())["photos"]
    sources = load_sources(workload_dir)
    models = load_models(sources)
    first: dict[str, list[int]] = {}
    for photo in workload:
        for name, shape in photo["calls"]:
            first.setdefault(name, shape)
    diffs = check(models, sources, first)
    device = torch.device(device_name)
    cuda = device.type == "cuda"
    cards = sum(p["cards"] for p in workload)
    report: dict[str, Any] = {
        "gpu": torch.cuda.get_device_name(0) if cuda else "cpu",
        "torch": torch.__version__,
        "photos": len(workload),
        "cards": cards,
        "max_abs_diff_vs_onnxruntime": diffs,
        "runs": [],
    }
    for dtype in (torch.float16, torch.float32) if cuda else (torch.float32,):
        try:
            replayer = Replayer({name: m.to(device=device, dtype=dtype) for name, m in models.items()}, device, dtype)
            with torch.inference_mode():
                for photo in workload:  # warm-up: every shape once (cuDNN picks its kernels)
                    replayer.photo(photo)
                replayer.synchronize()
                for photo in workload:  # one photo at a time, each call timed alone: where the time goes
                    replayer.photo(photo, timed=True)
                replayer.merged(workload, merge, 1)  # warm-up of the merged shapes
                timings = {}
                if streams:  # 0: the merged mode alone
                    timings["as recorded"] = replayer.as_recorded(workload, streams, rounds)
                timings["merged"] = replayer.merged(workload, merge, rounds)
                for mode, seconds in timings.items():
                    spent = replayer.per_model
                    report["runs"].append(
                        {
                            "dtype": str(dtype).removeprefix("torch."),
                            "mode": mode,
                            "streams": streams if mode == "as recorded" else 1,
                            "merge": merge if mode == "merged" else 1,
                            "seconds": seconds,
                            "photos_per_s": rounds * len(workload) / seconds,
                            "cards_per_s": rounds * cards / seconds,
                            "ms_per_photo_alone": 1000 * sum(spent.values()) / len(workload),
                            "share": {k: v / sum(spent.values()) for k, v in sorted(spent.items())},
                        }
                    )
        except RuntimeError as error:  # an operation the dtype does not have on this device
            report["runs"].append({"dtype": str(dtype).removeprefix("torch."), "error": str(error)[:500]})
            print(f"{dtype}: {error}")
    print(f"{report['gpu']}, torch {report['torch']}: {report['photos']} photos, {report['cards']} cards")
    print("converted models against ONNX Runtime (max abs diff):", {k: f"{v:.1e}" for k, v in diffs.items()})
    print("| dtype | mode | streams / merge | photos/s | cards/s | ms per photo alone |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    timed = [run for run in report["runs"] if "error" not in run]
    for run in timed:
        knob = run["streams"] if run["mode"] == "as recorded" else run["merge"]
        print(
            f"| {run['dtype']} | {run['mode']} | {knob} | {run['photos_per_s']:.1f} | "
            f"{run['cards_per_s']:.0f} | {run['ms_per_photo_alone']:.1f} |"
        )
    for run in [r for i, r in enumerate(timed) if i == 0 or timed[i - 1]["dtype"] != r["dtype"]]:
        shares = ", ".join(f"{k} {v:.0%}" for k, v in sorted(run["share"].items(), key=lambda kv: -kv[1]))
        print(f"{run['dtype']} GPU time per model, one photo at a time: {shares}")
    if out is not None:
        out.write_text(json.dumps(report, indent=1))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="scan photos on this CPU, noting every model call")
    rec.add_argument("--scenes", type=Path, required=True)
    rec.add_argument("--photos", type=int, default=40)
    rec.add_argument("--out", type=Path, required=True)
    rec.add_argument(
        "--passes",
        type=int,
        default=2,
        help="scans of each photo; the last one recorded and timed (from the second on, the faces the "
        "face check compares are drawn already, as in a service with a face store: cardvault index-faces)",
    )
    rep = sub.add_parser("replay", help="replay a recorded workload on the GPU")
    rep.add_argument("--workload", type=Path, required=True)
    rep.add_argument("--streams", type=int, default=8, help="photos at once as recorded (0: that mode not run)")
    rep.add_argument("--merge", type=int, default=32)
    rep.add_argument("--rounds", type=int, default=5)
    rep.add_argument("--json", type=Path, default=None)
    rep.add_argument("--device", default="cuda", help="cuda, or cpu to try the replay on a small workload")
    args = parser.parse_args()
    if args.command == "record":
        record(args.scenes, args.photos, args.out, args.passes)
    else:
        replay(args.workload, args.streams, args.merge, args.rounds, args.json, args.device)


if __name__ == "__main__":
    main()
