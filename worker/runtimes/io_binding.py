"""Runs a batch through onnxruntime IO binding: the stacked inputs cross to the device once, the
outputs stay on the device until the whole batch is done and come back in one copy each.

Plain `session.run` does the same copies per call, but allocates the outputs on the host through
the CPU allocator and cannot keep outputs on the device; with IO binding a GPU worker pays one
host-to-device copy per input and one device-to-host copy per output per batch (measured in
bench/gpu.py). On a CPU worker the binding is a no-op wrapper, kept testable there."""

import numpy as np
import onnxruntime as ort

from maas.core.devices import Device


class BoundRunner:
    def __init__(self, session: ort.InferenceSession, device: Device, output_names: list[str]):
        self._session = session
        self._device_type = "cuda" if device.is_gpu else "cpu"
        self._device_index = device.index
        self._output_names = output_names

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        binding = self._session.io_binding()
        for name, array in inputs.items():
            binding.bind_cpu_input(name, np.ascontiguousarray(array))
        for name in self._output_names:
            binding.bind_output(name, self._device_type, self._device_index)
        self._session.run_with_iobinding(binding)
        outputs = binding.copy_outputs_to_cpu()
        return dict(zip(self._output_names, outputs, strict=True))
