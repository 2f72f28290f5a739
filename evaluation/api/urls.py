from django.urls import path

from evaluation.api import transfer_views, views

urlpatterns = [
    path("datasets/", views.DatasetListView.as_view(), name="dataset-list"),
    path("datasets/<str:name>/", views.DatasetDetailView.as_view(), name="dataset-detail"),
    path("benchmarks/", views.RunListView.as_view(), name="benchmark-list"),
    path("benchmarks/<int:run_id>/", views.RunDetailView.as_view(), name="benchmark-detail"),
    path("benchmarks/<int:run_id>/cancel/", views.RunCancelView.as_view(), name="benchmark-cancel"),
    path("transfer-rankings/", transfer_views.RankingListView.as_view(), name="transfer-ranking-list"),
    path(
        "transfer-rankings/<int:ranking_id>/",
        transfer_views.RankingDetailView.as_view(),
        name="transfer-ranking-detail",
    ),
    path(
        "transfer-rankings/<int:ranking_id>/cancel/",
        transfer_views.RankingCancelView.as_view(),
        name="transfer-ranking-cancel",
    ),
]
