"""The admin edits what people say (metadata, claims); every derived column is shown, never edited.

Saves go through catalog.services: a row is stamped (search_text, size_estimate_bytes, revision) and claims
edited here, inline or on their own page, refresh the entry's derived columns (model_derived_refresh).
Weights change only through the weights services (upload, fetch, register_weights), which check the file.
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from catalog import services
from catalog.models import AccuracyClaim, ModelEntry, SpeedClaim, WeightsFile, WeightsMirror


class AccuracyClaimInline(admin.TabularInline):
    model = AccuracyClaim
    extra = 0


class ModelEntryForm(forms.ModelForm):
    """ModelEntryAdmin's form (the admin supplies Meta: model and the editable fields)."""

    def _post_clean(self) -> None:
        super()._post_clean()  # the instance now holds the edit and has passed full_clean (the field bounds)
        if self.errors:
            return
        try:  # an edit of architecture, num_classes or model_args must still fit the stored weights
            services.model_check_weights_fit(model=self.instance)
        except ValidationError as error:
            self._update_errors(error)


@admin.register(ModelEntry)
class ModelEntryAdmin(admin.ModelAdmin):
    form = ModelEntryForm
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
    readonly_fields = [
        "claimed_top1", "verified_top1", "verification", "weights", "weights_size_bytes", "size_estimate_bytes",
        "search_text", "revision", "downloads", "created", "updated",
    ]  # fmt: skip
    inlines = [AccuracyClaimInline]

    def save_model(self, request, obj: ModelEntry, form, change: bool) -> None:
        services.model_save(model=obj)

    def save_related(self, request, form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)  # the inline claims, added, changed or deleted
        services.model_derived_refresh(model_ids=[form.instance.pk])

    # Through the service, so a weights file nothing uses any more is released with its model.
    def delete_model(self, request, obj: ModelEntry) -> None:
        services.model_delete(model=obj)

    def delete_queryset(self, request, queryset) -> None:
        for model in queryset:
            services.model_delete(model=model)


@admin.register(WeightsFile)
class WeightsFileAdmin(admin.ModelAdmin):
    list_display = ["sha256", "size_bytes", "tensor_count", "created"]
    readonly_fields = ["sha256", "file", "size_bytes", "tensor_count", "created"]


@admin.register(AccuracyClaim)
class AccuracyClaimAdmin(admin.ModelAdmin):
    list_display = ["model", "dataset", "split", "metric", "value", "source", "retired_at"]
    list_filter = ["metric", "source", ("retired_at", admin.EmptyFieldListFilter)]
    search_fields = ["model__name", "dataset"]

    def get_queryset(self, request):
        return AccuracyClaim.history.select_related("model")  # retired claims too: curators see the history

    def save_model(self, request, obj: AccuracyClaim, form, change: bool) -> None:
        services.claim_save(claim=obj)

    def delete_model(self, request, obj: AccuracyClaim) -> None:
        services.claims_delete(claims=[obj])

    def delete_queryset(self, request, queryset) -> None:
        services.claims_delete(claims=queryset)


@admin.register(SpeedClaim)
class SpeedClaimAdmin(admin.ModelAdmin):
    list_display = ["architecture", "hardware", "precision", "img_size", "batch_size", "samples_per_sec"]
    list_filter = ["device", "precision", "hardware"]
    search_fields = ["architecture"]


@admin.register(WeightsMirror)
class WeightsMirrorAdmin(admin.ModelAdmin):
    """Mirror jobs are read here; only catalog.services starts them (the model page, the API, the command)."""

    list_display = ["__str__", "model", "status", "bytes_done", "bytes_total", "created", "finished"]
    list_filter = ["status"]
    search_fields = ["model__name", "repo_id"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
