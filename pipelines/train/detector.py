"""Card detector: ultralytics YOLO pose with four keypoints (the card's corners, in reading order).

Trained from scratch (no pretrained weights can be fetched here) on ``scene_dataset`` photos;
exported to ONNX with a dynamic batch. The corners let the scan service rectify each card by
homography before identification and grading.
"""

from __future__ import annotations

import json
import platform
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.train.ultralytics_env import configure


@dataclass(frozen=True)
class DetectorConfig:
    data: Path  # a scene_dataset folder (with data.yaml)
    runs: Path  # where ultralytics writes its run (ignored by git)
    epochs: int = 30
    imgsz: int = 640
    batch: int = 16
    model: str = "yolov8n-pose.yaml"
    device: str = "cpu"
    seed: int = 0
    workers: int = 2
    name: str = "detector"
    more_data: tuple[Path, ...] = ()  # further scene_dataset folders trained (and validated) on with ``data``
    init: Path | None = None  # continue from these weights (ultralytics .pt, or a shipped detector.onnx)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class DetectorResult:
    weights: Path
    onnx: Path
    metrics: dict[str, float]
    seconds: float
    config: dict[str, Any]


def train_detector(config: DetectorConfig) -> DetectorResult:
    configure(config.runs / "ultralytics-config")
    from ultralytics import YOLO  # type: ignore[attr-defined]

    start = time.perf_counter()
    init = config.init
    if init is not None and init.suffix == ".onnx":
        photos = sorted((config.data / "images").rglob("*.jpg"))[:64]  # for the norms (weights_from_onnx)
        init = weights_from_onnx(
            init, config.runs / f"{config.name}-init.pt", images=photos, imgsz=config.imgsz, model=config.model
        )
    data_yaml = merged_data_yaml((config.data, *config.more_data), config.runs / f"{config.name}-data.yaml")
    model = YOLO(str(init) if init is not None else config.model, task="pose")
    model.train(
        data=str(data_yaml),
        epochs=config.epochs,
        imgsz=config.imgsz,
        batch=config.batch,
        device=config.device,
        workers=config.workers,
        project=str(config.runs.resolve()),
        name=config.name,
        exist_ok=True,
        pretrained=init is not None,  # False would drop the loaded weights and start from scratch
        seed=config.seed,
        deterministic=True,
        plots=False,
        amp=config.device != "cpu",
        verbose=False,
        fliplr=0.5,
        degrees=10,
        mosaic=0.5,
        **config.extra,
    )
    run_dir = config.runs / config.name
    weights = run_dir / "weights" / "best.pt"
    if not weights.exists():
        weights = run_dir / "weights" / "last.pt"
    trained = YOLO(str(weights), task="pose")
    val = trained.val(
        data=str(data_yaml),
        imgsz=config.imgsz,
        batch=config.batch,
        device=config.device,
        plots=False,
        verbose=False,
        workers=config.workers,
        project=str(config.runs.resolve()),
        name=f"{config.name}-val",
        exist_ok=True,
    )
    metrics = {k: float(v) for k, v in val.results_dict.items()}
    onnx = export_onnx(weights, imgsz=config.imgsz)
    return DetectorResult(
        weights, onnx, metrics, time.perf_counter() - start, {k: str(v) for k, v in asdict(config).items()}
    )


def merged_data_yaml(folders: tuple[Path, ...], out: Path) -> Path:
    """One ultralytics data file over several scene datasets (their train and val splits pooled)."""
    if len(folders) == 1:
        return folders[0] / "data.yaml"
    for folder in folders:
        if not (folder / "data.yaml").exists():
            raise FileNotFoundError(f"{folder} is not a scene dataset (no data.yaml)")
    train = ", ".join(json.dumps(str((f / "images" / "train").resolve())) for f in folders)
    val = ", ".join(json.dumps(str((f / "images" / "val").resolve())) for f in folders)
    out.parent.mkdir(parents=True, exist_ok=True)
    from pipelines.scene_dataset import POSE_LABELS

    out.write_text(f"train: [{train}]\nval: [{val}]\n{POSE_LABELS}")
    return out


def weights_from_onnx(
    onnx_path: Path,
    out: Path,
    *,
    images: Sequence[Path] = (),
    imgsz: int = 416,
    model: str = "yolov8n-pose.yaml",
) -> Path:
    """An ultralytics checkpoint holding the weights of an exported detector, to train on from there.

    The export folds each batch norm into its convolution (``W' = W g / s``, ``b' = beta - mean g / s``).
    The rebuilt model takes ``W'`` as its convolution; its batch norm must give back ``y + b'`` for
    the convolution's output ``y`` in evaluation *and* stay close to that in training, where it
    normalises by the batch's own statistics. So each norm is set to the statistics of ``y`` on real
    photos (``images``, letterboxed to ``imgsz``; mean ``m``, variance ``v``): running mean ``m``,
    variance ``v``, ``gamma = sqrt(v + eps)``, ``beta = b' + m``, which is exactly ``y + b'`` in
    evaluation and about that on a batch of photos. Without images the norms are set to the identity
    (``mean 0, var 1``): exact in evaluation, but a training step would rescale every layer.
    """
    import onnx
    import torch
    from onnx import numpy_helper

    configure(out.parent / "ultralytics-config")
    from ultralytics import __version__
    from ultralytics.nn.tasks import PoseModel

    graph = onnx.load(str(onnx_path)).graph
    weights = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in graph.initializer}
    pose = PoseModel(model, nc=1, data_kpt_shape=(4, 3), verbose=False)  # type: ignore[no-untyped-call]
    state = pose.state_dict()
    missing = []
    source: torch.Tensor | None
    for name in list(state):
        if name.endswith(".bn.weight"):
            norm: Any = pose.get_submodule(name[: -len(".weight")])
            source = torch.full_like(state[name], float(np.sqrt(1.0 + norm.eps)))
        elif name.endswith(".bn.bias"):
            source = weights.get(name.replace(".bn.bias", ".conv.bias"))
        elif name.endswith(".bn.running_mean"):
            source = torch.zeros_like(state[name])
        elif name.endswith(".bn.running_var"):
            source = torch.ones_like(state[name])
        elif name.endswith(".bn.num_batches_tracked"):
            continue
        else:
            source = weights.get(name)
        if source is None or source.shape != state[name].shape:
            missing.append(name)
            continue
        state[name] = source.to(state[name].dtype)
    if missing:
        raise ValueError(f"{onnx_path} does not hold {model}'s weights: {', '.join(missing[:5])} ...")
    pose.load_state_dict(state)
    pose.eval()
    if images:
        _calibrate_norms(pose, images, imgsz)
    pose.names = {0: "card"}
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "epoch": -1,
            "best_fitness": None,
            "model": pose,
            "ema": None,
            "updates": None,
            "optimizer": None,
            "train_args": {"task": "pose"},
            "version": __version__,
        },
        out,
    )
    return out


def _calibrate_norms(pose: Any, images: Sequence[Path], imgsz: int) -> None:
    """Give each identity batch norm the statistics of its input on ``images`` (see weights_from_onnx)."""
    import torch
    from PIL import Image

    from models.detector import letterbox

    norms: list[Any] = [m for m in pose.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    sums: dict[int, list[Any]] = {}

    def record(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], _: torch.Tensor) -> None:
        y = inputs[0].double()
        total = sums.setdefault(id(module), [0.0, 0.0, 0])
        total[0] = total[0] + y.sum(dim=(0, 2, 3))
        total[1] = total[1] + (y * y).sum(dim=(0, 2, 3))
        total[2] += y.numel() // y.shape[1]

    hooks = [m.register_forward_hook(record) for m in norms]
    batch = np.stack([letterbox(Image.open(p).convert("RGB"), imgsz)[0] for p in images])
    with torch.no_grad():
        for i in range(0, len(batch), 8):
            pose(torch.from_numpy(batch[i : i + 8]))
    for hook in hooks:
        hook.remove()
    with torch.no_grad():
        for m in norms:
            first, second, count = sums[id(m)]
            mean = first / count
            var = (second / count - mean * mean).clamp(min=0)
            m.running_mean.copy_(mean.float())
            m.running_var.copy_(var.float())
            m.weight.copy_(torch.sqrt(var + m.eps).float())
            m.bias.add_(mean.float())


def export_onnx(weights: Path, *, imgsz: int, half: bool = False) -> Path:
    """ONNX with a dynamic batch axis (fp16 when ``half``, for GPUs)."""
    configure(weights.parent / "ultralytics-config")
    from ultralytics import YOLO  # type: ignore[attr-defined]

    path = YOLO(str(weights), task="pose").export(
        format="onnx", imgsz=imgsz, dynamic=True, simplify=True, half=half, device="cpu" if not half else 0
    )
    return Path(str(path))


def torch_and_onnx_outputs(weights: Path, onnx: Path, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raw head outputs of the torch model and of its ONNX export for the same batch (N, 3, S, S)."""
    import onnxruntime as ort
    import torch
    from ultralytics import YOLO  # type: ignore[attr-defined]

    model: Any = YOLO(str(weights), task="pose").model
    model = model.float().eval()
    with torch.no_grad():
        out = model(torch.from_numpy(images))
    reference = (out[0] if isinstance(out, (list, tuple)) else out).numpy()
    session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    exported = session.run(None, {session.get_inputs()[0].name: images})[0]
    return reference, exported


def write_model_card(
    result: DetectorResult,
    destination: Path,
    *,
    command: str,
    dataset: dict[str, Any],
    evaluation: dict[str, Any] | None = None,
    evaluation_command: str = "",
) -> Path:
    """Copy the ONNX weights into ``models/`` with a model card of how they were made and measured."""
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copy(result.onnx, destination / "detector.onnx")
    card = destination / "detector.md"
    metrics = "\n".join(f"| {k} | {v:.4f} |" for k, v in sorted(result.metrics.items()))
    held_out = ""
    if evaluation:
        rows = "\n".join(
            f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in evaluation.items()
        )
        held_out = (
            f"\n## Held-out scenes (other sets and surfaces)\n\n`{evaluation_command}`\n\n"
            f"| metric | value |\n| --- | --- |\n{rows}\n"
        )
    init = result.config.get("init", "None")
    start = (
        "trained from scratch (no pretrained weights)"
        if init == "None"
        else f"continued from `{init}` (our own earlier weights; nothing downloaded)"
    )
    card.write_text(f"""# Card detector (YOLO pose, 4 corner keypoints)

- Architecture: ultralytics `{result.config["model"]}`, {start}.
- Input: RGB, letterboxed to {result.config["imgsz"]} px; output: boxes + 4 keypoints (TL, TR, BR, BL of the card).
- Data: synthetic scenes from `pipelines/scene_dataset.py`: {json.dumps(dataset)}.
- Training command: `{command}`
- Trained on: {platform.node()} ({platform.processor() or platform.machine()}), device `{result.config["device"]}`,
  {result.seconds / 60:.1f} minutes, {result.config["epochs"]} epochs.
- File: `detector.onnx` (dynamic batch, fp32).

## Validation metrics (the dataset's val split)

| metric | value |
| --- | --- |
{metrics}
{held_out}""")
    (destination / "detector.metrics.json").write_text(json.dumps(result.metrics, indent=2))
    return card
