"""Builds the CardVault Ray Serve application: the only place ``.bind()`` is called.

``cardvault serve`` uses :func:`build_app`; ``serve run serve_app.app:app_builder`` and Serve
config files use :func:`app_builder` with the same typed arguments.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, Field
from ray.serve import Application

from serve_app.ingress import CardVaultIngress


class ModelArgs(BaseModel):
    """Resources and scaling of the model deployments (GPU fractions let them share one GPU)."""

    device: str = Field(default="auto", pattern=r"^(auto|cpu|cuda|tensorrt)$")
    num_cpus: float = Field(default=0.25, ge=0)
    detector_gpus: float = Field(default=0, ge=0)
    identifier_gpus: float = Field(default=0, ge=0)
    grader_gpus: float = Field(default=0, ge=0)
    ocr_gpus: float = Field(default=0, ge=0)
    corners_gpus: float = Field(default=0, ge=0)
    min_replicas: int = Field(default=1, ge=1)
    max_replicas: int = Field(default=2, ge=1)
    target_ongoing_requests: float = Field(default=8, gt=0)
    max_batch: int = Field(default=16, ge=1)


class AppArgs(BaseModel):
    """Arguments of the Serve application (also accepted by ``serve run``)."""

    min_replicas: int = Field(default=1, ge=1)
    max_replicas: int = Field(default=4, ge=1)
    target_ongoing_requests: float = Field(default=16, gt=0)
    max_ongoing_requests: int = Field(default=64, ge=1)
    num_cpus: float = Field(default=0.5, ge=0)
    settings: dict[str, Any] = Field(default_factory=dict, description="Settings overrides for replicas")
    forward_env: bool = Field(default=True, description="pass this process's CARDVAULT_* variables to replicas")
    scans: bool = Field(default=True, description="deploy the model deployments and the scan pipeline")
    models: ModelArgs = Field(default_factory=ModelArgs)


def build_app(args: AppArgs) -> Application:
    env = {k: v for k, v in os.environ.items() if k.startswith("CARDVAULT_")} if args.forward_env else {}
    env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    deployment: Any = CardVaultIngress  # the serve decorators hide .options() from type checkers
    ingress = deployment.options(
        autoscaling_config={
            "min_replicas": args.min_replicas,
            "max_replicas": max(args.max_replicas, args.min_replicas),
            "target_ongoing_requests": args.target_ongoing_requests,
            "upscale_delay_s": 5,
            "downscale_delay_s": 60,
        },
        max_ongoing_requests=args.max_ongoing_requests,
        ray_actor_options={"num_cpus": args.num_cpus, "runtime_env": {"env_vars": env}},
    )
    pipeline = build_scan_pipeline(args, env) if args.scans else None
    application: Application = ingress.bind(args.settings, pipeline)
    return application


def build_scan_pipeline(args: AppArgs, env: dict[str, str]) -> Application:
    """The model deployments and the composition that calls them."""
    from deployments.models import (
        CornerDeployment,
        DetectorDeployment,
        GraderDeployment,
        IdentifierDeployment,
        OCRDeployment,
    )
    from deployments.pipeline import ScanPipeline
    from models.scan import ModelPaths
    from serve_app.settings import Settings

    m = args.models
    settings = Settings(**args.settings)
    paths = ModelPaths.under(settings.models_dir)

    def opts(gpus: float) -> dict[str, Any]:
        return {
            "autoscaling_config": {
                "min_replicas": m.min_replicas,
                "max_replicas": max(m.max_replicas, m.min_replicas),
                "target_ongoing_requests": m.target_ongoing_requests,
            },
            "ray_actor_options": {"num_cpus": m.num_cpus, "num_gpus": gpus, "runtime_env": {"env_vars": env}},
        }

    deployments: Any = (
        DetectorDeployment,
        IdentifierDeployment,
        GraderDeployment,
        OCRDeployment,
        CornerDeployment,
        ScanPipeline,
    )
    detector, identifier, grader, ocr, corners, pipeline = deployments
    composed: Application = pipeline.options(**opts(0)).bind(
        detector.options(**opts(m.detector_gpus)).bind(paths, device=m.device, max_batch=min(m.max_batch, 8)),
        identifier.options(**opts(m.identifier_gpus)).bind(paths, device=m.device, max_batch=m.max_batch),
        grader.options(**opts(m.grader_gpus)).bind(paths, device=m.device, max_batch=m.max_batch),
        ocr.options(**opts(m.ocr_gpus)).bind(device=m.device, max_batch=m.max_batch),
        str(settings.resolved_catalog_dir()),
        str(paths.fusion),
        corners.options(**opts(m.corners_gpus)).bind(paths, device=m.device, max_batch=m.max_batch)
        if paths.corners.exists()
        else None,
        index=str(paths.index),
        wear_calibration=str(paths.wear_calibration),
        faces_dir=str(settings.data_dir / "faces"),
        art_vouches=settings.art_vouches,
    )
    return composed


def app_builder(args: dict[str, Any]) -> Application:
    """Entry point for ``serve run serve_app.app:app_builder min_replicas=2``."""
    return build_app(AppArgs.model_validate(args))
