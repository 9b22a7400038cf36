"""A detector training round where this project's environment is not installed: the lent GPU machine,
whose image holds torch, torchvision, OpenCV and numpy but not the packages ``cardvault`` needs, and
which cannot fetch any (ultralytics and ultralytics-thop travel there as wheels).

Builds ``--sets`` training scene sets in parallel processes (``cardvault dataset scenes`` builds one
at a time), then runs ``train_detector`` over all of them, as ``cardvault train detector --data ...
--more-data ...`` does. Two things of that image are worked around, neither touching the training:
polars is absent, which ultralytics reads its own results.csv with (read here with the csv module);
and ultralytics' AMP check loads weights it downloads (YOLO26n), which cannot be fetched there, so
mixed precision is taken as working (on a Hopper GPU it does; the check is for older GPUs).

    python -m pipelines.train.detector_round --catalogs ../shared/data --out runs/gpu-round \\
        --sets 16 --images 200 --first-seed 40 --hours 0.05 --batch 64 --device 0
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import time
from pathlib import Path
from typing import Any

from pipelines.catalog_sources import load_catalogs
from pipelines.scene_dataset import SceneDatasetConfig, build_scene_dataset
from pipelines.train.detector import DetectorConfig, train_detector

MODELS = Path(__file__).resolve().parents[2] / "models"


def build_set(job: tuple[Path, Path, int, int]) -> dict[str, int]:
    catalogs, out, images, seed = job
    return build_scene_dataset(SceneDatasetConfig(out, images, seed, "train"), load_catalogs(catalogs))


def read_results_csv(trainer: Any) -> dict[str, list[Any]]:
    """ultralytics' ``BaseTrainer.read_results_csv`` without polars: results.csv as columns."""
    try:
        with open(trainer.csv, newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError:
        return {}
    return {key.strip(): [float(row[key]) for row in rows] for key in (rows[0] if rows else {})}


def adapt_ultralytics() -> None:
    from ultralytics.engine import trainer

    try:
        import polars  # noqa: F401
    except ImportError:
        trainer.BaseTrainer.read_results_csv = read_results_csv  # type: ignore[method-assign]
    trainer.check_amp = lambda model: True  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogs", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sets", type=int, default=16)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--first-seed", type=int, default=40)
    parser.add_argument("--processes", type=int, default=multiprocessing.cpu_count())
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--hours", type=float, default=None, help="train this long (ultralytics' time: sets epochs)")
    parser.add_argument("--imgsz", type=int, default=416)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--device", default="0")
    parser.add_argument("--workers", type=int, default=12)
    parser.add_argument("--lr0", type=float, default=0.0005)
    parser.add_argument("--init", type=Path, default=MODELS / "detector" / "detector.onnx")
    args = parser.parse_args()

    start = time.perf_counter()
    folders = [args.out / f"scenes-s{args.first_seed + i}" for i in range(args.sets)]
    jobs = [(args.catalogs, folder, args.images, args.first_seed + i) for i, folder in enumerate(folders)]
    with multiprocessing.get_context("spawn").Pool(min(args.processes, len(jobs))) as pool:
        counts = pool.map(build_set, jobs)
    built = time.perf_counter() - start
    print(f"{sum(c['images'] for c in counts)} photos, {sum(c['cards'] for c in counts)} cards in {built:.0f} s")

    adapt_ultralytics()
    extra: dict[str, Any] = {"lr0": args.lr0, "optimizer": "AdamW", "cos_lr": True, "cache": "ram"}
    if args.hours is not None:
        extra["time"] = args.hours
    config = DetectorConfig(
        data=folders[0],
        more_data=tuple(folders[1:]),
        runs=args.out / "runs",
        epochs=args.epochs,
        imgsz=args.imgsz,
        batch=args.batch,
        device=args.device,
        workers=args.workers,
        seed=args.first_seed,
        init=args.init,
        extra=extra,
    )
    result = train_detector(config)
    summary = {
        "photos": sum(c["images"] for c in counts),
        "cards": sum(c["cards"] for c in counts),
        "build_seconds": built,
        "train_seconds": result.seconds,
        "metrics": result.metrics,
        "config": result.config,
        "weights": str(result.weights),
        "onnx": str(result.onnx),
    }
    (args.out / "round.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
