"""Shared fixtures for the end-to-end tests: the real `precedent` binary and the models."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "models"))


def _required_env(name: str, hint: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set; run the suite with `bash tests/run.sh` ({hint})", pytrace=False)
    return value


@pytest.fixture(scope="session")
def precedent_bin() -> Path:
    return Path(_required_env("PRECEDENT_BIN", "path of the built precedent binary"))


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    return Path(_required_env("PRECEDENT_TEST_MODEL", "the tiny test model directory"))


@pytest.fixture(scope="session")
def default_model() -> Path:
    return Path(_required_env("PRECEDENT_HOME", "precedent's data directory")) / "models" / "smollm2-135m"
