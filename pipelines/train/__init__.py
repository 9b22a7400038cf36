"""Training pipelines: the CLI (`cardvault train ...`) and the notebooks call these."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any


def config_strings(config: Any) -> dict[str, str]:
    """A training config (a dataclass) as the strings its model card and metrics show: each value
    as written on the command line, a tuple of folders as a comma-separated list of them (not the
    tuple's repr)."""
    return {k: ", ".join(map(str, v)) if isinstance(v, tuple) else str(v) for k, v in asdict(config).items()}
