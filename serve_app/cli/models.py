"""Synthetic data, training and evaluation commands."""

from __future__ import annotations

import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from pipelines.catalog_sources import load_catalogs
from serve_app.cli.base import (
    _progress,
    app,
    console,
    dataset_app,
    train_app,
)
from serve_app.settings import get_settings

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"  # the shipped weights and model cards


def _ship(name: str, files: dict[str, Path], write_card: Any) -> None:
    """Copy a trained model's files into ``models/NAME`` (``files``: name there -> where it was
    trained) and write its model card there (``write_card(folder, command)``)."""
    import shutil
    import sys

    folder = MODELS_DIR / name
    folder.mkdir(parents=True, exist_ok=True)
    for target, source in files.items():
        shutil.copy(source, folder / target)
    card = write_card(folder, "cardvault " + " ".join(sys.argv[1:]))
    console.print(f"[green]shipped {folder / next(iter(files))} with {card}[/green]")


class SplitName(StrEnum):
    train = "train"
    heldout = "heldout"


class LayoutName(StrEnum):  # pipelines.render.scenes: LAYOUTS and CLOSEUP
    any = "any"
    table = "table"
    binder = "binder"
    hand = "hand"
    fan = "fan"
    closeup = "closeup"


@train_app.command("detector")
def train_detector_command(
    data: Annotated[Path, typer.Option(help="scene dataset folder; built first when it has no data.yaml")],
    runs: Annotated[Path, typer.Option(help="training runs folder")] = Path("runs"),
    images: Annotated[int, typer.Option(help="images to render when building the dataset")] = 2000,
    seed: int = 0,
    epochs: int = 30,
    imgsz: int = 640,
    batch: int = 16,
    device: str = "cpu",
    more_data: Annotated[
        list[Path] | None, typer.Option(help="further scene dataset folders to train and validate on (repeatable)")
    ] = None,
    init: Annotated[
        Path | None, typer.Option(help="continue from these weights: an ultralytics .pt or a shipped detector.onnx")
    ] = None,
    lr0: Annotated[
        float | None, typer.Option(help="AdamW learning rate for fine-tuning (default: ultralytics' choice)")
    ] = None,
    ship: Annotated[bool, typer.Option(help="copy the ONNX weights and a model card into models/detector")] = False,
) -> None:
    """Train the card detector (YOLO pose, 4 corners) and export it to ONNX."""
    import sys

    from pipelines.scene_dataset import SceneDatasetConfig, build_scene_dataset
    from pipelines.train.detector import DetectorConfig, train_detector, write_model_card

    dataset: dict[str, Any] = {"images": images, "seed": seed, "folder": str(data)}
    for folder in more_data or []:
        if not (folder / "data.yaml").exists():
            raise typer.BadParameter(f"{folder} is not a scene dataset (no data.yaml)", param_hint="--more-data")
        dataset.setdefault("more", []).append(str(folder))
    if init is not None and not init.exists():
        raise typer.BadParameter(f"{init} does not exist", param_hint="--init")
    if not (data / "data.yaml").exists():
        source = get_settings().resolved_catalog_dir()
        catalogs = load_catalogs(source)
        with _progress() as progress:
            task = progress.add_task("rendering scenes", total=images)
            dataset.update(
                build_scene_dataset(
                    SceneDatasetConfig(out=data, images=images, seed=seed),
                    catalogs,
                    progress=lambda n: progress.advance(task, n),
                )
            )
    extra: dict[str, object] = {}
    if lr0 is not None:  # a fine-tune: no warm-up from a high bias rate that would undo the start
        extra = {"optimizer": "AdamW", "lr0": lr0, "warmup_bias_lr": lr0, "warmup_epochs": 0.5}
    if init is not None:  # the last half without mosaics (ultralytics closes them only 10 epochs before the end)
        extra["close_mosaic"] = max(1, min(10, epochs // 2))
    result = train_detector(
        DetectorConfig(
            data=data,
            runs=runs,
            epochs=epochs,
            imgsz=imgsz,
            batch=batch,
            device=device,
            seed=seed,
            more_data=tuple(more_data or ()),
            init=init,
            extra=extra,
        )
    )
    console.print(f"[green]trained in {result.seconds / 60:.1f} min: {result.onnx}[/green]")
    for key, value in sorted(result.metrics.items()):
        console.print(f"  {key}: {value:.4f}")
    if ship:
        models = MODELS_DIR / "detector"
        card = write_model_card(result, models, command="cardvault " + " ".join(sys.argv[1:]), dataset=dataset)
        console.print(f"[green]shipped {models / 'detector.onnx'} with {card}[/green]")


@train_app.command("identifier")
def train_identifier_command(
    out: Annotated[Path, typer.Option(help="where the weights and ONNX go")] = Path("runs/identifier"),
    printings: Annotated[int, typer.Option("--cards", "--printings", help="training cards (classes)")] = 3000,
    views: Annotated[int, typer.Option(help="photo-like views per card and epoch")] = 6,
    epochs: int = 5,
    gallery: Annotated[
        int | None, typer.Option(help="cards in the evaluation index (default: the whole catalog)")
    ] = None,
    queries: Annotated[int, typer.Option(help="evaluation queries from held-out sets")] = 300,
    seed: int = 0,
    lr: float = 2e-3,
    margin: Annotated[float, typer.Option(help="ArcFace margin m")] = 0.3,
    scale: Annotated[float, typer.Option(help="ArcFace scale s")] = 30.0,
    loss: Annotated[str, typer.Option(help="arcface, or infonce (supervised contrastive)")] = "arcface",
    init: Annotated[
        Path | None,
        typer.Option(help="continue from identifier.pt or a shipped identifier.onnx (class centres from it)"),
    ] = None,
    foil_share: Annotated[
        float, typer.Option(help="share of plain views given a foil of random sheen (finish label follows)")
    ] = 0.0,
    crops: Annotated[
        list[Path] | None,
        typer.Option(help="scan-crop sets to train on as well (cardvault dataset crops; repeat for more)"),
    ] = None,
    crop_share: Annotated[float, typer.Option(help="share of each batch drawn from the crops")] = 0.3,
    heldout_crops: Annotated[
        list[Path] | None, typer.Option(help="scan-crop sets of held-out scenes to measure retrieval on as well")
    ] = None,
    ship: Annotated[
        bool, typer.Option(help="copy the ONNX weights, the catalog index and a model card into models/identifier")
    ] = False,
) -> None:
    """Train the identifier (ArcFace embedding + finish head), export ONNX, index the catalog and
    measure retrieval of held-out sets' printings against every card's reference face."""
    import json
    import random

    from pipelines.scene_dataset import printing_pool
    from pipelines.train.identifier import (
        EmbeddingIndex,
        IdentifierConfig,
        build_index,
        evaluate_crops,
        evaluate_retrieval,
        reference_specs,
        train_identifier,
        write_card,
    )

    source = get_settings().resolved_catalog_dir()
    catalogs = load_catalogs(source)
    train_pool, held = printing_pool(catalogs, "train"), printing_pool(catalogs, "heldout")
    result = train_identifier(
        IdentifierConfig(
            out=out,
            printings=printings,
            views_per_printing=views,
            epochs=epochs,
            seed=seed,
            lr=lr,
            margin=margin,
            scale=scale,
            loss=loss,
            init=init,
            foil_share=foil_share,
            crops=tuple(crops or ()),
            crop_share=crop_share,
        ),
        train_pool,
        progress=lambda line: console.print(line),
    )
    picker = random.Random(seed)
    query_specs = picker.sample(held, min(queries, len(held)))
    references = reference_specs(held + train_pool)
    if gallery is not None:
        wanted = {s.art_key for s in query_specs}
        others = [s for s in references if s.art_key not in wanted]
        references = reference_specs(query_specs) + picker.sample(
            others, max(0, min(gallery, len(others)) - len(wanted))
        )
    index = EmbeddingIndex(Path(result["onnx"]))
    with _progress() as progress:
        task = progress.add_task("indexing reference faces", total=len(references))
        build_index(index, references, progress=lambda n: progress.advance(task, n), workers=os.cpu_count() or 1)
    index.save(out / "index.npz")
    metrics = evaluate_retrieval(Path(result["onnx"]), [], query_specs, seed=seed + 1, index=index)
    for folder in heldout_crops or ():
        metrics |= {f"{folder.name}.{k}": v for k, v in evaluate_crops(index, folder, held + train_pool).items()}
    (out / "metrics.json").write_text(
        json.dumps(
            {"train": {k: result[k] for k in ("loss", "finish_accuracy", "seconds")}, "heldout": metrics}, indent=1
        )
    )
    console.print(f"[green]loss {result['loss']}; held-out retrieval {metrics}[/green]")
    if ship:
        _ship(
            "identifier",
            {"identifier.onnx": Path(result["onnx"]), "index.npz": out / "index.npz"},
            lambda folder, command: write_card(result, metrics, folder, command=command),
        )


@train_app.command("corners")
def train_corners_command(
    data: Annotated[list[Path], typer.Option(help="scene datasets with exact corners (repeat for several)")],
    out: Annotated[Path, typer.Option(help="where the weights and ONNX go")] = Path("runs/corners"),
    heldout: Annotated[Path | None, typer.Option(help="held-out scene set to measure on after training")] = None,
    detector: Annotated[Path, typer.Option(help="detector whose corners are the coarse input")] = MODELS_DIR
    / "detector"
    / "detector.onnx",
    steps: int = 3000,
    batch: int = 32,
    lr: float = 3e-3,
    seed: int = 0,
    wide_share: Annotated[
        float, typer.Option(help="share of random coarse quads far off (turned ~10°, scaled ~12%, shifted ~8%)")
    ] = 0.0,
    init: Annotated[Path | None, typer.Option(help="continue from corners.pt or a shipped corners.onnx")] = None,
    ship: Annotated[bool, typer.Option(help="copy the ONNX weights and a model card into models/corners")] = False,
) -> None:
    """Train the second-stage corner network on the detector's crops, export ONNX, check it
    against torch and measure the corners on a held-out scene set."""
    import json

    import numpy as np

    from models.corners import CornerRefiner
    from pipelines.evaluate_detector import evaluate_detector
    from pipelines.train.corners import CornerConfig, batch_of, load_examples, torch_corners, train_corners, write_card

    config = CornerConfig(
        data=tuple(data),
        out=out,
        detector=detector,
        steps=steps,
        batch=batch,
        lr=lr,
        seed=seed,
        wide_share=wide_share,
        init=init,
    )
    result = train_corners(config, progress=lambda line: console.print(line))
    refiner = CornerRefiner(Path(result["onnx"]), providers=["CPUExecutionProvider"])
    photos, examples = load_examples(data[:1], None, limit=20)
    probe, _ = batch_of(photos, examples, np.random.default_rng(seed), 8, 0.0)
    drift = float(np.abs(refiner.predict(probe) - torch_corners(Path(result["weights"]), probe)).max())
    minutes = result["seconds"] / 60
    console.print(f"[green]trained in {minutes:.1f} min; ONNX vs torch max difference {drift:.4f} px[/green]")
    metrics: dict[str, Any] = {"onnx_vs_torch_max_px": drift}
    if heldout is not None:
        for name, mode in (("detector alone", None), ("detector + corner network", refiner)):
            with console.status(f"held-out corners: {name}"):
                measured = evaluate_detector(detector, heldout, imgsz=416, refine=mode)
            metrics |= {f"{k} ({name})": v for k, v in measured.items() if "error" in k or "latency" in k}
        for key, value in metrics.items():
            console.print(f"  {key}: {value:.4f}")
    (out / "metrics.json").write_text(json.dumps({"train": result, "heldout": metrics}, indent=1))
    if ship:
        _ship(
            "corners",
            {"corners.onnx": Path(result["onnx"])},
            lambda folder, command: write_card(result, metrics, folder, command=command),
        )


class Refinement(StrEnum):
    net = "net"
    edges = "edges"
    none = "none"


@app.command()
def evaluate(
    scenes: Annotated[Path, typer.Option(help="a held-out scene dataset (cardvault dataset scenes --split heldout)")],
    detector: Annotated[Path, typer.Option(help="detector ONNX")] = Path("models/detector/detector.onnx"),
    imgsz: int = 416,
    limit: Annotated[int | None, typer.Option(help="evaluate the first N images only")] = None,
    pipeline: Annotated[
        bool, typer.Option(help="also run the whole scan (identify, grade, OCR, fuse) in process and score it")
    ] = False,
    refine: Annotated[
        Refinement, typer.Option(help="second stage on the detector's corners: the corner network, edge fitting, none")
    ] = Refinement.none,
    rows: Annotated[
        Path | None,
        typer.Option(help="with --pipeline: write one JSON line per labelled card (found or missed) here"),
    ] = None,
    art_vouches: Annotated[
        bool | None,
        typer.Option(
            "--art-vouches/--no-art-vouches",
            help="with --pipeline: whether art recognised counts towards GOOD and the face check runs; "
            "default: the settings' (CARDVAULT_ART_VOUCHES, off: the index's art is not a real card's)",
        ),
    ] = None,
) -> None:
    """Measure the models on held-out synthetic scenes and print a table."""
    from models.corners import CornerRefiner
    from pipelines.evaluate_detector import evaluate_detector

    second: CornerRefiner | Literal["edges", "none"] = "edges" if refine is Refinement.edges else "none"
    if refine is Refinement.net:
        second = CornerRefiner(MODELS_DIR / "corners" / "corners.onnx", providers=["CPUExecutionProvider"])
    with console.status("evaluating the detector"):
        result = evaluate_detector(detector, scenes, imgsz=imgsz, limit=limit, refine=second)
    if pipeline:
        with console.status("running the whole scan on every photo"):
            result |= {f"scan.{k}": v for k, v in _evaluate_pipeline(scenes, limit, rows, art_vouches).items()}
    targets = {
        "precision@0.5": ">= 0.99",
        "recall@0.5": ">= 0.99",
        "corner_error_pct_of_diagonal": "<= 1.5",
        "centering_error_points": "<= 2",
        "scan.identification_top1": ">= 0.98 (embedding alone), >= 0.995 fused",
        "scan.GOOD_precision": ">= 0.998",
        "scan.grade_within_1": ">= 0.90",
        "scan.centering_error_points": "<= 2",
        "scan.corner_error_pct_of_diagonal": "<= 1.5",
    }
    console.print(f"{'metric':<32} {'value':>10}  target")
    for key, value in result.items():
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        console.print(f"{key:<32} {shown:>10}  {targets.get(key, '')}")


def _evaluate_pipeline(
    scenes: Path, limit: int | None, rows_out: Path | None = None, art_vouches: bool | None = None
) -> dict[str, float]:
    """The in-process scan engine (shipped models) over a scene set, scored against its labels;
    ``rows_out``: every labelled card's row (found: what was read; missed: ``found`` false), and a row
    counting each photo's false cards (``found`` None, ``false_cards``);
    ``art_vouches``: ``load_matcher``'s."""
    import asyncio
    import json
    import statistics

    from models.scan import LocalRunners, ScanEngine, scan_bytes
    from pipelines.evaluate_scan import MIN_VISIBLE, card_of, score_photo, summarise
    from serve_app.services.scanner import load_matcher

    matcher = load_matcher(get_settings().resolved_catalog_dir(), art_vouches=art_vouches)
    engine = ScanEngine(LocalRunners(device="cpu"), matcher)
    entries = [json.loads(line) for line in (scenes / "manifest.jsonl").read_text().splitlines()][:limit]
    rows: list[dict[str, Any]] = []
    false_positives = missed = 0
    timings: dict[str, list[float]] = {}
    for entry in entries:
        payload = asyncio.run(scan_bytes(engine, (scenes / entry["image"]).read_bytes()))
        matched, fp, fn = score_photo(payload.result["cards"], entry["cards"])
        rows += [{"image": entry["image"], "found": True} | r for r in matched]
        if rows_out is not None:
            paired = {r["label"] for r in matched}
            rows += [
                {"image": entry["image"], "found": False, "label": k, "card_id": card_of(c), "visible": c["visible"]}
                for k, c in enumerate(entry["cards"])
                if c["visible"] >= MIN_VISIBLE and k not in paired
            ]
            if fp:  # the photo's cards found where no labelled card lies (``found`` None: neither kind above)
                rows.append({"image": entry["image"], "found": None, "false_cards": fp})
        false_positives += fp
        missed += fn
        for stage, ms in payload.result["timings_ms"].items():
            timings.setdefault(stage, []).append(ms)
    if rows_out is not None:
        rows_out.parent.mkdir(parents=True, exist_ok=True)
        rows_out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = summarise([r for r in rows if r["found"]], false_positives, missed)
    result.update({f"median_ms.{k}": statistics.median(v) for k, v in timings.items()})
    return result


class ModelName(StrEnum):
    detector = "detector"
    identifier = "identifier"
    grader = "grader"
    corners = "corners"
    wear = "wear"


def _corner_canvases(cards: list[Any], rng: Any) -> Any:
    """The corner network's input for rendered cards lying on a plain surface, each cut around
    its outline moved by up to a few percent, as the scan cuts it around a detection."""
    import numpy as np
    from PIL import Image

    from models.corners import to_input, warp

    canvases = []
    for card in cards:
        w, h = card.size
        photo = Image.new("RGB", (2 * w, 2 * h), tuple(int(c) for c in rng.integers(40, 200, 3)))
        photo.paste(card, (w // 2, h // 2))
        outline = np.array([[w / 2, h / 2], [1.5 * w, h / 2], [1.5 * w, 1.5 * h], [w / 2, 1.5 * h]])
        canvases.append(warp(np.asarray(photo), outline + rng.normal(0, 0.02 * w, (4, 2)))[0])
    return to_input(np.stack(canvases))


@app.command("evaluate-identifier")
def evaluate_identifier_command(
    identifier: Annotated[Path, typer.Option(help="identifier ONNX")] = MODELS_DIR / "identifier" / "identifier.onnx",
    index: Annotated[Path, typer.Option(help="its catalog index")] = MODELS_DIR / "identifier" / "index.npz",
    queries: Annotated[int, typer.Option(help="held-out printings drawn at random")] = 300,
    per_finish: Annotated[
        int, typer.Option(help="plus this many held-out printings of each foil finish (holofoil, reverse...)")
    ] = 100,
    seed: int = 1,
) -> None:
    """Identification from the embedding alone: photo-like views of printings from sets never
    trained on, searched against the whole catalog's index; top-1 per finish."""
    import json
    import random

    from models.identify import FINISH_CLASSES
    from pipelines.scene_dataset import printing_pool
    from pipelines.train.identifier import EmbeddingIndex, evaluate_retrieval, finish_class

    held = printing_pool(load_catalogs(get_settings().resolved_catalog_dir()), "heldout")
    picker = random.Random(seed)
    chosen = picker.sample(held, min(queries, len(held)))
    for name in FINISH_CLASSES[1:]:
        of_finish = [s for s in held if FINISH_CLASSES[finish_class(s.finish)] == name]
        chosen += picker.sample(of_finish, min(per_finish, len(of_finish)))
    searcher = EmbeddingIndex(identifier)
    searcher.load(index)
    metrics = evaluate_retrieval(identifier, [], chosen, seed=seed, index=searcher)
    console.print(f"{'metric':<28} {'value':>10}")
    for key, value in metrics.items():
        console.print(f"{key:<28} {value:>10.4f}")
    console.print(json.dumps(metrics))


@app.command("export")
def export_command(
    model: ModelName,
    samples: Annotated[int, typer.Option(help="rendered cards for int8 calibration and the comparison")] = 128,
) -> None:
    """Write fp16 (GPU) and int8 (CPU) exports next to a shipped model and compare them to fp32."""
    import numpy as np

    from pipelines.export import compare, to_fp16, to_int8
    from pipelines.scene_dataset import printing_pool
    from pipelines.train.identifier import photo_like

    folder = MODELS_DIR / model.value
    source = folder / f"{model.value}.onnx"
    pool = printing_pool(load_catalogs(get_settings().resolved_catalog_dir()), "heldout")
    rng = np.random.default_rng(0)
    cards = [photo_like(pool[int(i)], rng) for i in rng.choice(len(pool), samples, replace=False)]
    if model is ModelName.identifier:
        from models.identify import identifier_input

        inputs = np.stack([identifier_input(c) for c in cards])
    elif model is ModelName.grader:
        from models.grading import grader_input

        inputs = np.stack([grader_input(c) for c in cards])
    elif model is ModelName.corners:
        inputs = _corner_canvases(cards, rng)
    elif model is ModelName.wear:
        from models.grading import grading_input
        from models.wear import patches, to_input

        # a rendered card's corner and edge patches; the first half calibrates, the second compares
        inputs = to_input(np.concatenate([patches(grading_input(c)) for c in cards[: max(2, samples // 8)]]))
    else:
        from models.detector import letterbox

        inputs = np.stack([letterbox(c, 416)[0] for c in cards[:32]])
    half = folder / f"{model.value}.fp16.onnx"
    to_fp16(source, half)
    rows = {"fp16": compare(source, half, inputs)}
    if model is not ModelName.detector:  # detector: fp16 only; its int8 keypoint accuracy is not evaluated yet
        eight = folder / f"{model.value}.int8.onnx"
        corners = model is ModelName.corners
        to_int8(
            source,
            eight,
            inputs[: len(inputs) // 2],
            input_name={ModelName.corners: "canvas", ModelName.wear: "patches"}.get(model, "image"),
            symbolic_shapes=not corners,
        )
        rows["int8"] = compare(source, eight, inputs[len(inputs) // 2 :])
    console.print(f"{'export':<6} {'max |diff|':>10} {'cosine':>8} {'fp32 ms':>8} {'ms':>8} {'MB':>6}")
    for name, r in rows.items():
        console.print(
            f"{name:<6} {r['max_abs_diff']:>10.4f} {r['mean_cosine']:>8.5f} {r['ms_fp32']:>8.1f} "
            f"{r['ms_candidate']:>8.1f} {r['bytes_candidate'] / 1e6:>6.1f}"
        )


@app.command("index")
def index_command(
    sets: Annotated[
        list[str] | None, typer.Option("--set", help="index only these set ids (repeat); default: every set")
    ] = None,
    identifier: Annotated[Path, typer.Option(help="identifier ONNX")] = MODELS_DIR / "identifier" / "identifier.onnx",
    out: Annotated[Path, typer.Option(help="the index file the scan service loads")] = MODELS_DIR
    / "identifier"
    / "index.npz",
) -> None:
    """Embed the reference faces of the catalog's cards into the identifier's index.

    A new set is added to identification by indexing it (``--set NEW``): the cards' faces are
    embedded and merged into the existing index, replacing those cards' old entries. No retraining.
    """
    import numpy as np

    from pipelines.render.card_face import face_spec
    from pipelines.train.identifier import EmbeddingIndex, build_index, reference_specs

    catalogs = load_catalogs(get_settings().resolved_catalog_dir())
    wanted = set(sets or [])
    specs = []
    for catalog in catalogs:
        by_set = {s.id: s for s in catalog.sets}
        for card in catalog.cards:
            if (not wanted or card.set_id in wanted) and card.printings:
                specs.append(face_spec(card, by_set.get(card.set_id), card.printings[0]))
    if wanted and not specs:
        raise typer.BadParameter(f"no cards in sets {sorted(wanted)}")
    index = EmbeddingIndex(identifier)
    if wanted and out.exists():
        index.load(out)
        keep = [i for i, card_id in enumerate(index.ids) if card_id not in {s.art_key for s in specs}]
        index.set_index([index.ids[i] for i in keep], index.vectors[keep])
    with _progress() as progress:
        task = progress.add_task("embedding reference faces", total=len(specs))
        build_index(
            index, reference_specs(specs), progress=lambda n: progress.advance(task, n), workers=os.cpu_count() or 1
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    index.save(out)
    console.print(
        f"[green]{len(index.ids)} cards in {out} ({len(specs)} embedded now; dim {np.shape(index.vectors)[1]})[/green]"
    )


@app.command("index-faces")
def index_faces_command(
    sets: Annotated[
        list[str] | None, typer.Option("--set", help="only these set ids (repeat); default: every set")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="the face store the scans read (default: DATA_DIR/faces)")] = None,
) -> None:
    """Draw every card's face, in each of its printings' finishes, into the store the scan's face
    check reads (``models.faces``). Optional: a face not there is drawn when a scan first needs it
    (~25 ms each); drawing them ahead keeps that off the scans' path."""
    from concurrent.futures import ProcessPoolExecutor

    folder = out or get_settings().data_dir / "faces"
    catalogs = load_catalogs(get_settings().resolved_catalog_dir())
    wanted = set(sets or [])
    jobs = sorted(
        {
            (card.id, printing.finish.removeprefix("first_edition_"))
            for catalog in catalogs
            for card in catalog.cards
            if not wanted or card.set_id in wanted
            for printing in card.printings
        }
    )
    if wanted and not jobs:
        raise typer.BadParameter(f"no cards in sets {sorted(wanted)}")
    chunks = [jobs[i : i + 200] for i in range(0, len(jobs), 200)]
    workers = max(1, min(os.cpu_count() or 1, len(chunks)))
    with _progress() as progress, ProcessPoolExecutor(workers, initializer=_face_worker, initargs=(folder,)) as pool:
        task = progress.add_task("drawing faces", total=len(jobs))
        for done in pool.map(_draw_faces, chunks):
            progress.advance(task, done)
    console.print(f"[green]{len(jobs)} faces in {folder}[/green]")


_FACES: Any = None


def _face_worker(folder: Path) -> None:
    global _FACES
    from models.faces import RenderedFaces

    _FACES = RenderedFaces(load_catalogs(get_settings().resolved_catalog_dir()), folder)


def _draw_faces(chunk: list[tuple[str, str]]) -> int:
    for card_id, finish in chunk:
        _FACES.face(card_id, finish)
    return len(chunk)


@dataset_app.command("scenes")
def dataset_scenes(
    out: Annotated[Path, typer.Option(help="output folder (YOLO pose layout + manifest.jsonl)")],
    images: Annotated[int, typer.Option(min=1)] = 1000,
    seed: int = 0,
    split: SplitName = SplitName.train,
    catalog_dir: Annotated[Path | None, typer.Option(help="folder with the catalog files")] = None,
    other_art: Annotated[
        bool, typer.Option(help="print every card with other art than its reference face (as a real card's)")
    ] = False,
    size: Annotated[
        str, typer.Option(help="photo size WIDTHxHEIGHT (4032x3024: a 12 MP phone photo; cards scale with it)")
    ] = "1280x960",
    max_cards: Annotated[int, typer.Option(min=1, max=16, help="at most this many cards in a photo")] = 16,
    layout: Annotated[
        LayoutName, typer.Option(help="every photo in this layout (closeup: one card filling the photo)")
    ] = LayoutName.any,
    printed_packs: Annotated[
        bool, typer.Option(help="booster wrappers printed as real packs are (logo, a set's name, art)")
    ] = False,
) -> None:
    """Render synthetic photos of cards with exact corner, identity and condition labels."""
    from pipelines.scene_dataset import SceneDatasetConfig, build_scene_dataset

    if not re.fullmatch(r"\d{2,5}x\d{2,5}", size):
        raise typer.BadParameter("WIDTHxHEIGHT in pixels, e.g. 4032x3024", param_hint="--size")
    width, height = (int(v) for v in size.split("x"))
    source = catalog_dir or get_settings().resolved_catalog_dir()
    catalogs = load_catalogs(source)
    config = SceneDatasetConfig(
        out=out,
        images=images,
        seed=seed,
        split=split.value,
        other_art=other_art,
        size=(width, height),
        max_cards=max_cards,
        layout=None if layout is LayoutName.any else layout.value,
        printed_packs=printed_packs,
    )
    with _progress() as progress:
        task = progress.add_task(f"rendering {split.value} scenes", total=images)
        counts = build_scene_dataset(config, catalogs, progress=lambda n: progress.advance(task, n))
    console.print(f"[green]{counts['images']} images, {counts['cards']} labelled cards -> {out}[/green]")


@dataset_app.command("crops")
def dataset_crops(
    scenes: Annotated[Path, typer.Option(help="a labelled scene set (cardvault dataset scenes)")],
    out: Annotated[Path, typer.Option(help="output folder (images/ + manifest.jsonl)")],
    limit: Annotated[int | None, typer.Option(help="the first N photos only")] = None,
) -> None:
    """Cut every labelled card out of a scene set's photos as the scan does (shipped detector and
    corner network), with its labels: what the identifier and grader really get."""
    from pipelines.scan_crops import build_crops

    with _progress() as progress:
        task = progress.add_task("cutting cards", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        counts = build_crops(scenes, out, limit=limit, progress=advance)
    console.print(f"[green]{counts['crops']} cards from {counts['photos']} photos -> {out}[/green]")


@train_app.command("wear")
def train_wear_command(
    crops: Annotated[
        list[Path], typer.Option(help="scan-crop sets of training-split scenes (cardvault dataset crops; repeat)")
    ],
    heldout: Annotated[Path, typer.Option(help="a scan-crop set of held-out scenes to measure on")],
    out: Annotated[Path, typer.Option(help="where the weights and ONNX go")] = Path("runs/wear"),
    epochs: int = 6,
    seed: int = 0,
    lr: float = 3e-3,
    init: Annotated[Path | None, typer.Option(help="continue from wear.pt or a shipped wear.onnx")] = None,
    ship: Annotated[bool, typer.Option(help="copy the ONNX weights and a model card into models/wear")] = False,
) -> None:
    """Train the wear network (each corner's and edge's damage from full-resolution patches of scan
    crops), measure it per card on held-out crops, and export it to ONNX."""
    import json

    from pipelines.train.wear import WearConfig, train_wear, write_card

    for folder in (*crops, heldout):
        if not (folder / "manifest.jsonl").exists():
            raise typer.BadParameter(f"{folder} is not a scan-crop set (cardvault dataset crops --out {folder})")
    if init is not None and not init.is_file():
        raise typer.BadParameter(f"--init {init}: no such ONNX file or wear.pt")

    def report(epoch: int, loss: float, seconds: float) -> None:
        console.print(f"epoch {epoch}/{epochs}: loss {loss:.5f} ({seconds / 60:.1f} min)")

    with console.status("training the wear network"):
        result = train_wear(
            WearConfig(out=out, crops=tuple(crops), heldout=heldout, epochs=epochs, seed=seed, lr=lr, init=init),
            on_epoch=report,
        )
    (out / "metrics.json").write_text(json.dumps({k: result[k] for k in ("loss", "metrics", "seconds")}, indent=1))
    console.print(f"[green]{result['onnx']}: loss {result['loss']}; held-out {result['metrics']}[/green]")
    if ship:
        _ship("wear", {"wear.onnx": Path(result["onnx"])}, lambda folder, command: write_card(result, folder, command))


@train_app.command("grader")
def train_grader_command(
    out: Annotated[Path, typer.Option(help="where the weights and ONNX go")] = Path("runs/grader"),
    examples: Annotated[int, typer.Option(help="rendered worn cards (a tenth held for validation)")] = 4000,
    epochs: int = 8,
    seed: int = 0,
    lr: float = 2e-3,
    crops: Annotated[
        list[Path] | None,
        typer.Option(help="scan-crop sets to train on as well (cardvault dataset crops; repeat for more)"),
    ] = None,
    heldout: Annotated[
        Path | None, typer.Option(help="a scan-crop set of held-out scenes to validate on (else a tenth held out)")
    ] = None,
    init: Annotated[Path | None, typer.Option(help="continue from grader.pt or a shipped grader.onnx")] = None,
    ship: Annotated[bool, typer.Option(help="copy the ONNX weights and a model card into models/grader")] = False,
) -> None:
    """Train the condition grader (corners, edges, surface) and export it to ONNX."""
    import json

    from pipelines.scene_dataset import printing_pool
    from pipelines.train.grader import GraderConfig, train_grader, write_card

    source = get_settings().resolved_catalog_dir()
    catalogs = load_catalogs(source)
    with console.status("training the grader"):
        result = train_grader(
            GraderConfig(
                out=out,
                examples=examples,
                epochs=epochs,
                seed=seed,
                lr=lr,
                crops=tuple(crops or ()),
                heldout=heldout,
                init=init,
            ),
            printing_pool(catalogs, "train"),
        )
    (out / "metrics.json").write_text(json.dumps({k: result[k] for k in ("loss", "metrics", "seconds")}, indent=1))
    console.print(f"[green]{result['onnx']}: loss {result['loss']}; validation {result['metrics']}[/green]")
    if ship:
        _ship(
            "grader", {"grader.onnx": Path(result["onnx"])}, lambda folder, command: write_card(result, folder, command)
        )


def _scan_scene_set(collect: Any, engine: Any, folder: Path, limit: int | None) -> list[Any]:
    """``collect(engine, folder, limit, progress=...)`` (a readings collector of ``pipelines/train``)
    run over a labelled scene set behind a progress bar."""
    import asyncio
    import functools

    with _progress() as progress:
        entries = len((folder / "manifest.jsonl").read_text().splitlines())
        task = progress.add_task(f"scanning {folder}", total=min(limit or entries, entries))
        result: list[Any] = asyncio.run(
            collect(engine, folder, limit, progress=functools.partial(progress.advance, task))
        )
        return result


@train_app.command("wear-calibration")
def train_wear_calibration_command(
    scenes: Annotated[list[Path], typer.Option(help="training-split scene sets to scan (repeat the option for more)")],
    heldout: Annotated[list[Path], typer.Option(help="held-out scene sets to measure on (repeat for more)")],
    limit: Annotated[int | None, typer.Option(help="photos per scene set")] = None,
    readings: Annotated[Path, typer.Option(help="folder where the scanned readings are kept")] = Path(
        "runs/wear-calibration"
    ),
    rescan: Annotated[bool, typer.Option(help="scan again even when the readings files exist")] = False,
    ship: Annotated[bool, typer.Option(help="write models/wear/calibration.json and its model card")] = False,
) -> None:
    """Fit how the worst corner and edge a photo shows become the card's (a scale on the wear
    network's damage, a damage added per hidden corner or edge) on scans of labelled training
    scenes by the shipped models, and measure the overall grade on held-out scenes."""
    import sys

    from models.scan import LocalRunners, ScanEngine
    from pipelines.train.wear_calibration import (
        collect_grade_readings,
        fit_and_measure,
        load_grade_readings,
        save_grade_readings,
        write_card,
    )
    from serve_app.services.scanner import load_matcher

    engine: ScanEngine | None = None

    def read(folder: Path) -> list[Any]:
        nonlocal engine
        path = readings / f"{folder.name}.jsonl"
        if rescan or not path.exists():
            engine = engine or ScanEngine(
                LocalRunners(device="cpu"), load_matcher(get_settings().resolved_catalog_dir())
            )
            save_grade_readings(_scan_scene_set(collect_grade_readings, engine, folder, limit), path)
        return load_grade_readings(path)

    training = [r for folder in scenes for r in read(folder)]
    measuring = [r for folder in heldout for r in read(folder)]
    try:
        result = fit_and_measure(training, measuring)
    except ValueError as exc:
        raise typer.BadParameter(f"{exc}: scan more scenes (--scenes, --limit, --rescan)") from exc
    c = result.calibration
    console.print(
        f"corners x{c.corner_scale:.2f} + {c.corner_hidden} hidden; edges x{c.edge_scale:.2f} + {c.edge_hidden}"
    )
    console.print(f"{'held-out metric':<30} {'as read':>10} {'calibrated':>10}")
    for key, value in c.metrics.items():
        console.print(f"{key:<30} {result.before[key]:>10.4f} {value:>10.4f}")
    if ship:
        card = write_card(
            result,
            MODELS_DIR / "wear",
            command="cardvault " + " ".join(sys.argv[1:]),
            sources=[str(s) for s in scenes],
            heldout=[str(s) for s in heldout],
        )
        console.print(f"[green]shipped {MODELS_DIR / 'wear' / 'calibration.json'} with {card}[/green]")


@train_app.command("fusion")
def train_fusion_command(
    scenes: Annotated[list[Path], typer.Option(help="labelled scene sets to scan (repeat the option for more)")],
    limit: Annotated[int | None, typer.Option(help="photos per scene set")] = None,
    readings: Annotated[Path, typer.Option(help="where the scanned readings are kept")] = Path(
        "runs/fusion/readings.jsonl"
    ),
    rescan: Annotated[bool, typer.Option(help="scan again even when the readings file exists")] = False,
    seed: int = 0,
    ship: Annotated[bool, typer.Option(help="write models/fusion/fusion.json and its model card")] = False,
) -> None:
    """Fit the identification fusion (evidence weights, "none of these", the GOOD threshold) on scans
    of labelled scenes by the shipped models, and measure it on the readings it was not fitted on."""
    import sys

    from models.scan import LocalRunners, ScanEngine
    from pipelines.train.fusion import collect_readings, fit_fusion, load_readings, save_readings, write_card
    from serve_app.services.scanner import load_matcher

    matcher = load_matcher(get_settings().resolved_catalog_dir())
    if rescan or not readings.exists():
        engine = ScanEngine(LocalRunners(device="cpu"), matcher)
        collected = []
        for folder in scenes:
            collected += _scan_scene_set(collect_readings, engine, folder, limit)
        save_readings(collected, readings)
    try:
        result = fit_fusion(matcher, load_readings(readings), seed=seed)
    except ValueError as exc:
        raise typer.BadParameter(f"{exc}: scan more scenes (--scenes, --limit, --rescan)") from exc
    console.print(f"{'metric':<30} {'hand-set':>10} {'fitted':>10}")
    for key, value in result.fusion.metrics.items():
        console.print(f"{key:<30} {result.default.get(key, float('nan')):>10.4f} {value:>10.4f}")
    console.print(f"weights {result.fusion.weights}, null bias {result.fusion.null_bias:.3f}")
    console.print(f"GOOD at confidence >= {result.fusion.good_at:.4f}")
    if ship:
        card = write_card(
            result,
            MODELS_DIR / "fusion",
            command="cardvault " + " ".join(sys.argv[1:]),
            sources=[str(s) for s in scenes],
        )
        console.print(f"[green]shipped {MODELS_DIR / 'fusion' / 'fusion.json'} with {card}[/green]")
