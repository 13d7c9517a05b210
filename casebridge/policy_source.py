"""Reads the policy file (``CASEBRIDGE_POLICY``). Parsing and validation live in ``domain.policy``."""

from __future__ import annotations

import tomllib
from pathlib import Path

from casebridge.domain.policy import Policy, PolicyError, parse_policy


def load_policy(path: Path) -> Policy:
    source = str(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise PolicyError(source, "-", "file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(source, "-", f"not valid TOML: {exc}") from exc
    return parse_policy(data, source)
