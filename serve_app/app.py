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


class AppArgs(BaseModel):
    """Arguments of the Serve application (also accepted by ``serve run``)."""

    min_replicas: int = Field(default=1, ge=1)
    max_replicas: int = Field(default=4, ge=1)
    target_ongoing_requests: float = Field(default=16, gt=0)
    max_ongoing_requests: int = Field(default=64, ge=1)
    num_cpus: float = Field(default=0.5, ge=0)
    settings: dict[str, Any] = Field(default_factory=dict, description="Settings overrides for replicas")
    forward_env: bool = Field(default=True, description="pass this process's CARDVAULT_* variables to replicas")


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
    application: Application = ingress.bind(args.settings)
    return application


def app_builder(args: dict[str, Any]) -> Application:
    """Entry point for ``serve run serve_app.app:app_builder min_replicas=2``."""
    return build_app(AppArgs.model_validate(args))
