"""The rq job class of maas's rq workers: a task queued under a path of an older release (see
batching.tasks.LEGACY_PATHS) runs the function that path now names."""

from rq.job import Job
from rq.utils import import_attribute

from batching.tasks import current_path


class RenamedTaskJob(Job):
    @property
    def func(self):
        if self.instance is not None or self.func_name is None:
            return super().func
        return import_attribute(current_path(self.func_name))
