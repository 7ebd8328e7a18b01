"""Serving a finished run: the Predictor and its variants (predictor), token explanations (explain).
What a Space carries comes from here (build_space.py follows the imports). Imports textclf.runs and
the stages before it, never training."""
