"""Celery tasks: fetch by id, call one service. CELERY_TASK_ROUTES sends them to the `benchmarks` queue."""

from celery import shared_task

from evaluation import services


@shared_task(
    name="evaluation.run_benchmark",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=3 * 3600,
    time_limit=3 * 3600 + 60,
)
def run_benchmark(self, run_id: int) -> None:
    services.run_execute(run_id=run_id, worker=self.request.hostname or "worker")


@shared_task(
    name="evaluation.rank_transfer",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=3600,
    time_limit=3600 + 60,
)
def rank_transfer(self, ranking_id: int) -> None:
    from evaluation import transfer_services

    transfer_services.ranking_execute(ranking_id=ranking_id, worker=self.request.hostname or "worker")
