from django.contrib import admin

from catalog.models import AccuracyClaim, ModelEntry, SpeedClaim, WeightsFile


class AccuracyClaimInline(admin.TabularInline):
    model = AccuracyClaim
    extra = 0


@admin.register(ModelEntry)
class ModelEntryAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "domain",
        "task",
        "library",
        "num_params",
        "claimed_top1",
        "verified_top1",
        "downloads",
    ]
    list_filter = ["domain", "task", "library", "source_kind"]
    search_fields = ["namespace", "name", "title", "tags"]
    readonly_fields = ["claimed_top1", "verified_top1", "downloads", "revision", "created", "updated"]
    inlines = [AccuracyClaimInline]


@admin.register(WeightsFile)
class WeightsFileAdmin(admin.ModelAdmin):
    list_display = ["sha256", "size_bytes", "tensor_count", "created"]
    readonly_fields = ["sha256", "file", "size_bytes", "tensor_count", "created"]


@admin.register(AccuracyClaim)
class AccuracyClaimAdmin(admin.ModelAdmin):
    list_display = ["model", "dataset", "split", "metric", "value", "source"]
    list_filter = ["metric", "source"]
    search_fields = ["model__name", "dataset"]


@admin.register(SpeedClaim)
class SpeedClaimAdmin(admin.ModelAdmin):
    list_display = ["architecture", "hardware", "precision", "img_size", "batch_size", "samples_per_sec"]
    list_filter = ["device", "precision", "hardware"]
    search_fields = ["architecture"]
