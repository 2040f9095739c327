"""Keras/TensorFlow models to ONNX and TFLite: quantize, prune, distill, check parity, register.

Needs the `export` extra (TensorFlow); nothing here imports Redis, the API or the worker."""

import os

# TensorFlow reads this once, when first imported: keep its C++ start-up chatter out of the CLI.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
