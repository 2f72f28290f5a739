from django.urls import path

from evaluation import transfer_views, views

app_name = "evaluation"
urlpatterns = [
    path("benchmarks/<int:run_id>/", views.run_detail, name="run-detail"),
    path("benchmarks/<int:run_id>/cancel/", views.run_cancel, name="run-cancel"),
    path("datasets/", views.dataset_list, name="datasets"),
    path("transfer-rankings/", transfer_views.ranking_list, name="transfer-rankings"),
    path("transfer-rankings/new/", transfer_views.ranking_create, name="transfer-ranking-create"),
    path(
        "transfer-rankings/<int:ranking_id>/",
        transfer_views.ranking_detail,
        name="transfer-ranking-detail",
    ),
    path(
        "transfer-rankings/<int:ranking_id>/chart.svg",
        transfer_views.ranking_chart,
        name="transfer-ranking-chart",
    ),
    path(
        "transfer-rankings/<int:ranking_id>/cancel/",
        transfer_views.ranking_cancel,
        name="transfer-ranking-cancel",
    ),
    path("models/<str:namespace>/<str:name>/recheck/", views.model_recheck, name="model-recheck"),
]
