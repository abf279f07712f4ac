"""Training: the loop (resume, SIGTERM, validation), data-parallel processes, checkpoints, fine-tuning, and the
ImageNet stand-in's 2D pre-training. May import: data, acquire, standin, flow, models and the top-level helpers."""
