"""The queue protocol shared by api (producer) and worker (consumer)."""
