"""Smaller exports of the trained models: fp16 for GPUs, int8 for CPUs where it keeps accuracy.

``to_fp16`` converts weights and activations to half precision and keeps float32 inputs and
outputs, so callers do not change. ``to_int8`` is static post-training quantization (QDQ,
per-channel weights) calibrated on real inputs of the model; ``compare`` measures what a smaller
export costs (agreement with the float32 model on the same inputs) and what it gains (latency).
"""

from __future__ import annotations

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
