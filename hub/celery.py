"""The Celery app. Workers run `celery -A hub worker`; configuration comes from Django settings (CELERY_*)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")

app = Celery("hub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The queues `scripts/serve.sh` starts its worker on: jobs are routed to "benchmarks" (CELERY_TASK_ROUTES), the
# rest to the default queue.
SERVED_QUEUES = ("benchmarks", "default")


def declare_queues() -> list[str]:
    """Create the broker's queues before a worker or a web process first uses them.

    The embedded SQLite broker (kombu's sqlalchemy transport) declares a queue with a SELECT and then an INSERT.
    A worker starting while a web process published the first job could both INSERT, and the worker died of the
    IntegrityError ("Unrecoverable error", and serve.sh then stopped the web server too). Declared once first,
    both find the row. Harmless and idempotent on Redis.
    """
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for name in SERVED_QUEUES:
            queue = app.amqp.queues[name] if name in app.amqp.queues else app.amqp.queues.add(name)
            queue.bind(channel).declare()
    return list(SERVED_QUEUES)
