"""Preparing data: the public data sets' raw files read (corpora), split into train/validation/test
with their PROTOCOL.txt (preparation), the labels decided (labels), and the prepared files loaded for
training (loading). Imports only the shared modules at the top of textclf/."""
