"""Fixtures shared by the SDK tests: a private copy of the tiny export, and an fp32 Encoder on it."""

from __future__ import annotations

import shutil

import pytest
from simcse_sdk import Encoder


@pytest.fixture
def model_copy(tiny_model_dir, tmp_path):
    """A copy of the tiny export (fp32 + int8) that a test may damage."""
    dst = tmp_path / "model"
    shutil.copytree(tiny_model_dir, dst)
    return dst


@pytest.fixture(scope="module")
def encoder(tiny_model_dir):
    """The tiny export's fp32 variant on CPU, one per test module."""
    return Encoder(tiny_model_dir, device="cpu", variant="fp32")
