from django.urls import path

from catalog import views

app_name = "catalog"
urlpatterns = [
    path("", views.catalog_index, name="index"),
    path("models/<str:namespace>/<str:name>/", views.model_detail, name="model-detail"),
    path(
        "models/<str:namespace>/<str:name>/weights/", views.model_weights_upload, name="model-weights-upload"
    ),
    path("compare/", views.compare, name="compare"),
]
