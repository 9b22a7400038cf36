"""The GPU replay's models (benchmarks/gpu_models.py): the shipped ONNX files converted to torch give
ONNX Runtime's outputs, for the forms onnx2torch does not take as exported (opset-18 Split and Resize
in the detector, SAME_UPPER padding in PP-OCR's text detector, a Clip with an empty bound in the
identifier)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


def gpu_models() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_models", ROOT / "benchmarks" / "gpu_models.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def text_detector() -> Path:
    import rapidocr

    return Path(rapidocr.__file__).parent / "models" / "PP-OCRv6_det_small.onnx"


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        (ROOT / "models" / "detector" / "detector.onnx", (2, 3, 320, 416)),
        (ROOT / "models" / "identifier" / "identifier.onnx", (3, 3, 176, 128)),
        (None, (2, 3, 96, 640)),  # PP-OCR's text detector on two strips
    ],
)
def test_converted_models_give_onnx_runtimes_outputs(path: Path | None, shape: tuple[int, ...]) -> None:
    path = path or text_detector()
    module = gpu_models().to_torch(onnx.load(str(path)))
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    reference = session.run(None, {session.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        out = module(torch.from_numpy(x))
    out = out[0] if isinstance(out, (list, tuple)) else out
    assert out.shape == reference.shape
    np.testing.assert_allclose(out.numpy(), reference, rtol=1e-3, atol=2e-3 * float(np.abs(reference).max()))


def test_packed_weights_come_back_as_stored(tmp_path: Path) -> None:
    bench = gpu_models()
    path = ROOT / "models" / "corners" / "corners.onnx"
    bench.pack(path.read_bytes(), tmp_path / "corners")
    restored = {i.name: onnx.numpy_helper.to_array(i) for i in bench.unpack(tmp_path / "corners").graph.initializer}
    original = {i.name: onnx.numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}
    assert restored.keys() == original.keys()
    for name, array in original.items():
        expected = array.astype(np.float16).astype(np.float32) if array.dtype == np.float32 else array
        np.testing.assert_array_equal(restored[name], expected)
