"""maas core: settings, errors and the model registry shared by api, worker and export."""
