"""The worker process: runtimes, model loading and the batch loop."""
