"""Run ultralytics offline: no downloads of weights, fonts or packages at run time."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

FONT = Path(__file__).resolve().parents[1] / "render" / "fonts" / "DejaVuSans.ttf"


def configure(config_dir: Path) -> None:
    """Set the environment ultralytics reads at import; call before importing it."""
    config_dir = config_dir.resolve()
    target = config_dir / "Ultralytics"
    target.mkdir(parents=True, exist_ok=True)
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):  # the fonts it would otherwise fetch for plots
        if not (target / name).exists():
            shutil.copy(FONT, target / name)
    os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir))
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    os.environ.setdefault("YOLO_VERBOSE", "False")
