"""Training: the command-line arguments (arguments), metrics (metrics), the Trainer's helpers such as
freezing lower layers (trainer), checkpoints by the clock and resuming (resume), and the TF-IDF
baseline (baseline). Imports textclf.runs and the stages before it."""
