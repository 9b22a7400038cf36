"""The ``cardvault`` command line: serve, database, catalog, users, keys, prices, data, training."""

from serve_app.cli import admin, models, prices, serve  # noqa: F401  (each registers its commands)
from serve_app.cli.base import app
from serve_app.cli.prices import run_revaluation
from serve_app.cli.serve import prepare_embedded

__all__ = ["app", "prepare_embedded", "run_revaluation"]
