from django.urls import path

from evaluation import views

app_name = "evaluation"
urlpatterns = [
    path("benchmarks/<int:run_id>/", views.run_detail, name="run-detail"),
    path("benchmarks/<int:run_id>/cancel/", views.run_cancel, name="run-cancel"),
    path("datasets/", views.dataset_list, name="datasets"),
    path("models/<str:namespace>/<str:name>/recheck/", views.model_recheck, name="model-recheck"),
]
