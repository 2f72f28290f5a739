from django.contrib import admin

from evaluation.models import BenchmarkRun, EvalDataset


@admin.register(EvalDataset)
class EvalDatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "root", "created"]
    readonly_fields = ["class_names", "split_sizes", "split_hashes", "created"]


@admin.register(BenchmarkRun)
class BenchmarkRunAdmin(admin.ModelAdmin):
    list_display = ["pk", "model", "dataset", "split", "status", "top1", "created"]
    list_filter = ["status"]
    # The run record is written only by evaluation.services; the admin shows it.
    readonly_fields = [field.name for field in BenchmarkRun._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
