"""Evaluation of trained models: whole-clip test predictions, frozen features and the probe on them.
May import: data, acquire, standin, flow, models, train (checkpoints) and the top-level helpers."""
