"""Celery tasks of the catalog: fetch by id, call one service."""

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from catalog import services


class MirrorTask(DjangoTask):
    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        mirror_id = kwargs.get("mirror_id", args[0] if args else None)
        if mirror_id is not None:
            reason = (
                f"Stopped at the time limit ({settings.MIRROR_TIME_LIMIT} s)."
                if isinstance(exc, SoftTimeLimitExceeded)
                else f"The job failed: {type(exc).__name__}: {exc}"
            )
            services.weights_mirror_fail_running(mirror_id=mirror_id, reason=reason)


@shared_task(
    base=MirrorTask,
    name="catalog.mirror_weights",
    soft_time_limit=max(1, settings.MIRROR_TIME_LIMIT - 60),
    time_limit=settings.MIRROR_TIME_LIMIT,
)
def mirror_weights(mirror_id: int) -> None:
    services.weights_mirror_execute(mirror_id=mirror_id)
