from django.contrib import admin, messages

from evaluation import services
from evaluation.models import BenchmarkRun, EvalDataset, TransferCandidate, TransferRanking


@admin.register(EvalDataset)
class EvalDatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "root", "created"]
    readonly_fields = ["class_names", "split_sizes", "split_hashes", "created", "deleting"]

    # An upload's files are removed by the deletion job, and referenced datasets are kept: through the service.
    def delete_model(self, request, obj: EvalDataset) -> None:
        self.delete_queryset(request, EvalDataset.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset) -> None:
        for dataset in queryset:
            try:
                services.dataset_delete(dataset=dataset)
            except services.DatasetInUse as error:
                self.message_user(request, str(error), level=messages.ERROR)


@admin.register(BenchmarkRun)
class BenchmarkRunAdmin(admin.ModelAdmin):
    list_display = ["pk", "model", "dataset", "split", "status", "top1", "created"]
    list_filter = ["status"]
    # The run record is written only by evaluation.services; the admin shows it.
    readonly_fields = [field.name for field in BenchmarkRun._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    # A deleted run may have been the evidence for a model's verdict: delete through the service.
    def delete_model(self, request, obj: BenchmarkRun) -> None:
        services.runs_delete(runs=BenchmarkRun.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset) -> None:
        services.runs_delete(runs=queryset)


class TransferCandidateInline(admin.TabularInline):
    model = TransferCandidate
    extra = 0
    can_delete = False
    readonly_fields = [field.name for field in TransferCandidate._meta.fields]


@admin.register(TransferRanking)
class TransferRankingAdmin(admin.ModelAdmin):
    list_display = ["pk", "dataset", "split", "status", "best_score", "baseline_accuracy", "created"]
    list_filter = ["status"]
    # Written only by evaluation.transfer_services; the admin shows it.
    readonly_fields = [field.name for field in TransferRanking._meta.fields]
    inlines = [TransferCandidateInline]

    def has_add_permission(self, request) -> bool:
        return False
