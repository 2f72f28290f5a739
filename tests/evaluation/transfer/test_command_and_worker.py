"""manage.py rank_models (foreground, progress bar) and the ranking task on a real Celery worker process."""

import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from evaluation import transfer_services
from evaluation.models import RunStatus, TransferRanking
from evaluation.tasks import rank_transfer
from hub.celery import app


def test_rank_models_ranks_and_reports_missing_weights(digit_model, make_model, small_digits, capsys):
    weightless = make_model(name="no-weights", architecture="resnet10t", num_classes=10)
    out = StringIO()
    call_command(
        "rank_models", "--dataset", "digits-small", "--split", "test", "--candidates", digit_model.model_id,
        weightless.model_id, "--threads", "1", "--no-baseline", stdout=out,
    )  # fmt: skip
    text = out.getvalue()
    ranking = TransferRanking.objects.get()
    assert ranking.status == RunStatus.SUCCEEDED and ranking.worker.startswith("cli@")
    assert f"{digit_model.model_id}" in text and f"{ranking.candidates.get(rank=1).score:6.2f}%" in text
    assert "No weights on this hub" in text and f"/transfer-rankings/{ranking.pk}/" in text
    assert "100%" in capsys.readouterr().err  # tqdm's bar reached the end


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dataset", "nope", "--candidates", "demo/digit-net"], "No dataset 'nope'"),
        (["--dataset", "digits-small", "--split", "test", "--candidates", "demo/ghost"], "demo/ghost"),
        (["--dataset", "digits-small", "--split", "test"], "candidates"),
    ],
)
def test_rank_models_refuses_bad_arguments(digit_model, small_digits, argv, message):
    with pytest.raises(CommandError, match=message):
        call_command("rank_models", *argv, stdout=StringIO())
    assert not TransferRanking.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_ranking_goes_queued_running_succeeded_on_a_real_worker(
    celery_worker_process, digit_model, small_digits
):
    ranking = transfer_services.ranking_request(
        dataset=small_digits, split="test", model_ids=[digit_model.model_id],
        config={"batch_size": 32, "threads": 1, "baseline": False}, enqueue=False,
    )  # fmt: skip
    seen = [TransferRanking.objects.get(pk=ranking.pk).status]
    with app.connection_for_write(celery_worker_process) as broker_connection:
        rank_transfer.apply_async((ranking.pk,), connection=broker_connection)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        status = TransferRanking.objects.get(pk=ranking.pk).status
        if status != seen[-1]:
            seen.append(status)
        if status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED):
            break
        time.sleep(0.02)
    ranking.refresh_from_db()
    assert seen == [RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.SUCCEEDED], (seen, ranking.error)
    assert ranking.worker.startswith("test-worker@") and ranking.candidates.get().rank == 1
