"""Every rq task maas enqueues, by its import path (rq stores the path with the task, so a task
queued by one release is run by the next: renaming a task function is a change of this module
and of LEGACY_PATHS, never of a caller)."""

SPLIT_BULK_JOB = "worker.tasks.bulk_split.split"  # (bulk_id): split a bulk job's input into chunks
DELIVER_JOB_WEBHOOK = "worker.webhooks.delivery.deliver"  # (job_id): one attempt of a job's event
DELIVER_BULK_WEBHOOK = "worker.webhooks.bulk_delivery.deliver"  # (bulk_id): the same, for a bulk job
ALL = (SPLIT_BULK_JOB, DELIVER_JOB_WEBHOOK, DELIVER_BULK_WEBHOOK)

# The paths of release 0.1.0 before the package restructure: tasks already queued (or waiting
# for a retry) under them when maas is upgraded still run. Kept for one release, then removed.
LEGACY_PATHS = {
    "worker.bulk_split.split": SPLIT_BULK_JOB,
    "worker.webhook_delivery.deliver": DELIVER_JOB_WEBHOOK,
    "worker.bulk_webhook.deliver": DELIVER_BULK_WEBHOOK,
}


def current_path(path: str) -> str:
    """The path to import for a task queued under `path`, an old one or a current one."""
    return LEGACY_PATHS.get(path, path)
