"""A compact GRPO loop on judgecraft's rewards: vLLM rollouts with a LoRA policy, chunked log-probs, resumable runs.

`judgecraft train --config run.toml` runs it; `GRPOTrainer(load_train_config("run.toml")).run()` from Python.
Importing this package loads no torch: the trainer's modules are imported where they are used.
"""

from judgecraft.grpo.config import SFTConfig, TrainConfig, TrainConfigError, load_train_config

__all__ = ["SFTConfig", "TrainConfig", "TrainConfigError", "load_train_config"]
