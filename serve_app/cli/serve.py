"""`cardvault serve`: the embedded default (local Ray, SQLite, demo data) or a cluster."""

from __future__ import annotations

import os
import signal
import time
from typing import Annotated, Any

import typer

from serve_app.cli.base import (
    _progress,
    _run,
    _upgrade,
    app,
    console,
)
from serve_app.cli.prices import run_revaluation
from serve_app.settings import Settings, get_settings


def prepare_embedded(settings: Settings) -> None:
    """Migrate, then load the catalogs and the demo collector if asked and missing."""
    from serve_app.api.state import build_state
    from serve_app.services.demo import (
        DEMO_EMAIL,
        DEMO_PASSWORD,
        ensure_catalogs,
        ensure_demo_prices,
        ensure_demo_user,
    )

    _upgrade(settings)
    if not settings.demo_data:
        return
    catalog_dir = settings.resolved_catalog_dir()

    async def work() -> bool:
        state = build_state(settings)
        try:
            with _progress() as progress:
                tasks: dict[str, Any] = {}

                def report(game: str, done: int, total: int) -> None:
                    if game not in tasks:
                        tasks[game] = progress.add_task(f"catalog {game}", total=total)
                    progress.update(tasks[game], completed=done)

                await ensure_catalogs(state.engine, catalog_dir, progress=report)
            created = await ensure_demo_user(state.engine, state.vault)
            await ensure_demo_prices(state.engine, catalog_dir)
            return created
        finally:
            await state.close()

    if not (catalog_dir / "pokemon_cards.json.gz").exists():
        console.print(f"[yellow]no catalog files in {catalog_dir}; set CARDVAULT_CATALOG_DIR[/yellow]")
    created = _run(work)
    console.print(
        f"demo login: [bold]{DEMO_EMAIL}[/bold] / [bold]{DEMO_PASSWORD}[/bold]" + (" (created)" if created else "")
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="HTTP host of the Serve proxy")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port of the Serve proxy")] = 8000,
    address: Annotated[str | None, typer.Option(help="Ray cluster address (default: start local Ray)")] = None,
    min_replicas: Annotated[int, typer.Option()] = 1,
    max_replicas: Annotated[int, typer.Option()] = 2,
    demo: Annotated[bool, typer.Option(help="load the catalogs and demo user when missing")] = True,
    scans: Annotated[bool, typer.Option(help="deploy the model deployments and the scan pipeline")] = True,
    device: Annotated[str, typer.Option(help="model execution: auto, cpu, cuda or tensorrt")] = "auto",
    gpus_per_model: Annotated[float, typer.Option(help="GPU fraction for each model deployment")] = 0.0,
    max_batch: Annotated[
        int,
        typer.Option(
            min=1,
            help="scans' requests a model deployment gathers into one call (the detector at most 8); "
            "on a GPU 32 (benchmarks/gpu_models.py)",
        ),
    ] = 16,
) -> None:
    """Start the Serve application: embedded local Ray by default, or deploy onto a cluster."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    settings = get_settings()
    if not demo:
        settings = settings.model_copy(update={"demo_data": False})
    os.environ.setdefault("CARDVAULT_DATA_DIR", str(settings.data_dir))
    os.environ.setdefault("CARDVAULT_PUBLIC_URL", f"http://{host}:{port}")
    if address is None:  # the embedded default prepares its own database
        prepare_embedded(settings)
        # local Ray inherits this: on a busy 2-core machine the HTTP proxy can take longer than Serve's
        # 5 s ready check to start, and the controller then kills it (seen in session 29's test runs)
        os.environ.setdefault("RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S", "60")
    import ray
    from ray import serve as ray_serve

    from serve_app.app import AppArgs, ModelArgs, build_app

    ray.init(
        address=address,
        include_dashboard=False,
        log_to_driver=True,
        runtime_env={"env_vars": {"RAY_USAGE_STATS_ENABLED": "0"}},
    )
    ray_serve.start(http_options={"host": host, "port": port})
    if not settings.redis_url and max_replicas > 1:
        # OIDC login state, caches and rate-limit buckets live in each replica's memory without Redis
        console.print("[yellow]no CARDVAULT_REDIS_URL: running one ingress replica[/yellow]")
        min_replicas = max_replicas = 1
    ray_serve.run(
        build_app(
            AppArgs(
                min_replicas=min_replicas,
                max_replicas=max_replicas,
                scans=scans,
                models=ModelArgs(
                    device=device,
                    detector_gpus=gpus_per_model,
                    identifier_gpus=gpus_per_model,
                    grader_gpus=gpus_per_model,
                    ocr_gpus=gpus_per_model,
                    corners_gpus=gpus_per_model,
                    max_batch=max_batch,
                ),
            )
        ),
        name="cardvault",
        route_prefix="/",
    )
    console.print(f"[green]CardVault is serving at http://{host}:{port}[/green]  (API docs: /docs)")
    if address is not None:
        console.print("deployed onto the cluster; `serve shutdown` there stops it")
        return
    scheduler = None
    if settings.revalue_interval_s > 0:
        from apscheduler.schedulers.background import BackgroundScheduler

        scheduler = BackgroundScheduler()
        scheduler.add_job(
            run_revaluation,
            "interval",
            seconds=settings.revalue_interval_s,
            args=[settings],
            kwargs={"use": "ray"},
            max_instances=1,
            coalesce=True,
        )
        scheduler.start()
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    while not stop:
        time.sleep(0.5)
    console.print("shutting down")
    if scheduler is not None:
        scheduler.shutdown(wait=False)
    ray_serve.shutdown()  # type: ignore[no-untyped-call]
    ray.shutdown()
