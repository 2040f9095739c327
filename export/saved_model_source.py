"""A SavedModel directory (from `model.export`, `tf.saved_model.save`, or TF 2 Keras) as a
SourceModel, through its `serving_default` signature: the names are the signature's own."""

from pathlib import Path

import tensorflow as tf

from export.errors import ExportError
from export.source import SERVING_KEY, SourceModel, check_batchable, one_line

_HOW_TO_SIGN = (
    "save it with one: tf.saved_model.save(module, DIR, signatures=module.f.get_concrete_function("
    "tf.TensorSpec([None, ...], tf.float32))), or model.export(DIR) for a Keras model"
)


def load_saved_model(path: Path) -> SourceModel:
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as e:  # TensorFlow raises its own error types, OSError and ValueError here
        raise ExportError(f"{path}: not a loadable SavedModel: {one_line(e)}") from e
    if SERVING_KEY not in loaded.signatures:
        found = sorted(loaded.signatures) or "none"
        raise ExportError(
            f"{path}: a SavedModel without a {SERVING_KEY!r} signature (has {found}); {_HOW_TO_SIGN}"
        )
    signature = loaded.signatures[SERVING_KEY]
    by_name = signature.structured_input_signature[1]
    specs = [tf.TensorSpec(spec.shape, spec.dtype, name=name) for name, spec in by_name.items()]
    check_batchable(path, specs)
    names = list(signature.structured_outputs)

    def serve(*tensors):
        # through `loaded`, which owns the variables: a signature alone lets them be collected
        return loaded.signatures[SERVING_KEY](**{s.name: t for s, t in zip(specs, tensors, strict=True)})

    return SourceModel(path, specs, names, tf.function(serve, input_signature=specs), None)
