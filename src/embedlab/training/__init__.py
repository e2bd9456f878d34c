"""Training: configuration, the loop, checkpoints, multi-process runs and MLM pretraining."""
