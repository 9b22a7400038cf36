"""Smaller exports of the trained models: fp16 for GPUs, int8 for CPUs where it keeps accuracy.

``to_fp16`` converts weights and activations to half precision and keeps float32 inputs and
outputs, so callers do not change. ``to_int8`` is static post-training quantization (QDQ,
per-channel weights) calibrated on real inputs of the model; ``compare`` measures what a smaller
export costs (agreement with the float32 model on the same inputs) and what it gains (latency).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort


def torch_to_onnx(
    model: Any, input_shape: tuple[int, ...], path: Path, *, input_name: str, output_names: Sequence[str]
) -> Path:
    """A trained torch module (put in eval mode) to ONNX, opset 17, the batch dynamic on the input
    and on every output."""
    import torch

    model.eval()
    torch.onnx.export(
        model,
        (torch.zeros(*input_shape),),
        str(path),
        input_names=[input_name],
        output_names=list(output_names),
        dynamic_axes={name: {0: "batch"} for name in (input_name, *output_names)},
        opset_version=17,
        dynamo=False,
    )
    return path


def save_and_export(
    model: Any, out: Path, name: str, input_shape: tuple[int, ...], *, input_name: str, output_names: Sequence[str]
) -> tuple[Path, Path]:
    """A trained model's state dict as ``out/NAME.pt`` and its ONNX export (``torch_to_onnx``) as
    ``out/NAME.onnx``; both paths."""
    import torch

    out.mkdir(parents=True, exist_ok=True)
    weights = out / f"{name}.pt"
    torch.save(model.state_dict(), weights)
    onnx = torch_to_onnx(model, input_shape, out / f"{name}.onnx", input_name=input_name, output_names=output_names)
    return weights, onnx


def load_onnx_weights(model: Any, onnx_path: Path) -> None:
    """Fill a torch model from its shipped ONNX export (``torch_to_onnx``), so it can be trained further.

    The export folds every BatchNorm into the convolution before it: those convolutions get the
    folded weights and bias, and their BatchNorm becomes a fixed identity (mean 0, variance 1, no
    epsilon), which `freeze_norms` keeps out of training-mode statistics."""
    import torch
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    state = model.state_dict()
    named = {k: v for k, v in inits.items() if k in state}
    fused = [
        (inits[n.input[1]], inits[n.input[2]])
        for n in graph.node
        if n.op_type == "Conv" and n.input[1] in inits and n.input[1] not in state and len(n.input) > 2
    ]
    convs = _conv_norm_pairs(model)
    if len(fused) != len(convs):
        raise ValueError(f"{onnx_path}: {len(fused)} folded convolutions, the model has {len(convs)}")
    with torch.no_grad():
        for key, value in named.items():
            state[key].copy_(torch.from_numpy(value.copy()))
        for (name, conv, norm), (weight, bias) in zip(convs, fused, strict=True):
            if tuple(conv.weight.shape) != weight.shape:
                raise ValueError(f"{onnx_path}: {name} is {tuple(conv.weight.shape)}, the export {weight.shape}")
            conv.weight.copy_(torch.from_numpy(weight.copy()))
            norm.weight.fill_(1.0)
            norm.bias.copy_(torch.from_numpy(bias.copy()))
            norm.running_mean.zero_()
            norm.running_var.fill_(1.0)
            norm.eps = 0.0
    filled = {
        t.data_ptr() for _, conv, norm in convs for t in (*conv.parameters(), *norm.parameters(), *norm.buffers())
    }
    missing = [k for k, t in state.items() if k not in named and t.data_ptr() not in filled]
    if missing:
        raise ValueError(f"{onnx_path}: no weights for {missing}")


def load_weights(model: Any, path: Path, *, device: str = "cpu") -> None:
    """Fill a torch model to train it further: from its torch state (``*.pt``) or its ONNX export."""
    import torch

    if path.suffix == ".onnx":
        load_onnx_weights(model, path)
    else:
        model.load_state_dict(torch.load(path, map_location=device))


def _conv_norm_pairs(model: Any) -> list[tuple[str, Any, Any]]:
    """Each convolution followed by a BatchNorm, in the order the export meets them."""
    import torch

    pairs = []
    for name, module in model.named_modules():
        children = list(module.children())
        for first, second in itertools.pairwise(children):
            if isinstance(first, torch.nn.Conv2d) and isinstance(second, torch.nn.BatchNorm2d):
                pairs.append((name, first, second))
    return pairs


def freeze_norms(model: Any) -> None:
    """Keep every BatchNorm on its stored statistics while the rest trains (fine-tuning a model
    whose statistics were folded into its convolutions, or small batches)."""
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eval()


def to_fp16(source: Path, target: Path) -> Path:
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
    onnx.save(model, str(target))
    return target


def to_int8(
    source: Path, target: Path, calibration: np.ndarray, *, input_name: str = "image", symbolic_shapes: bool = True
) -> Path:
    """``symbolic_shapes=False`` for graphs whose symbolic shape inference fails (the corner
    network's upsampling with a dynamic batch)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.batches: Iterator[np.ndarray] = iter(np.array_split(calibration, max(1, len(calibration) // 8)))

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {input_name: batch.astype(np.float32)}

    prepared = target.with_suffix(".pre.onnx")
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=not symbolic_shapes)
    quantize_static(
        str(prepared),
        str(target),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        weight_type=QuantType.QInt8,
        activation_type=QuantType.QUInt8,
    )
    prepared.unlink()
    return target


def compare(reference: Path, candidate: Path, inputs: np.ndarray, *, runs: int = 5) -> dict[str, float]:
    """Output agreement (max abs difference, mean cosine of the first output) and CPU latency."""
    options = ort.SessionOptions()
    a = ort.InferenceSession(str(reference), options, providers=["CPUExecutionProvider"])
    b = ort.InferenceSession(str(candidate), options, providers=["CPUExecutionProvider"])
    name = a.get_inputs()[0].name
    out_a = a.run(None, {name: inputs})[0]
    out_b = b.run(None, {name: inputs})[0]
    cosine = np.sum(out_a * out_b, 1) / (np.linalg.norm(out_a, axis=1) * np.linalg.norm(out_b, axis=1) + 1e-9)

    def timed(session: ort.InferenceSession) -> float:
        session.run(None, {name: inputs})
        start = time.perf_counter()
        for _ in range(runs):
            session.run(None, {name: inputs})
        return (time.perf_counter() - start) / runs * 1000

    return {
        "max_abs_diff": float(np.abs(out_a - out_b).max()),
        "mean_cosine": float(cosine.mean()),
        "ms_fp32": timed(a),
        "ms_candidate": timed(b),
        "bytes_fp32": float(reference.stat().st_size),
        "bytes_candidate": float(candidate.stat().st_size),
    }
