from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularSwaggerSplitView

from catalog.api import hfcompat
from hub.schema_view import SchemaView

api_v1 = ([path("", include("catalog.api.urls")), path("", include("evaluation.api.urls"))], "api")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    # The Hugging Face Hub protocol subset: huggingface_hub and timm download from Depot with HF_ENDPOINT set.
    path("api/models/<str:namespace>/<str:name>", hfcompat.model_info, name="hf-model-info"),
    path(
        "api/models/<str:namespace>/<str:name>/revision/<str:revision>",
        hfcompat.model_info,
        name="hf-model-info-revision",
    ),
    path("", include("catalog.urls")),
    path("", include("evaluation.urls")),
    path(
        "<str:namespace>/<str:name>/resolve/<str:revision>/<path:filename>",
        hfcompat.resolve,
        name="hf-resolve",
    ),
]

handler400 = "hub.errors.bad_request"
handler403 = "hub.errors.permission_denied"
handler404 = "hub.errors.not_found"
handler500 = "hub.errors.server_error"
