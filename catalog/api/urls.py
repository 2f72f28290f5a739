from django.urls import path

from catalog.api import views
from catalog.leaderboard.api import LeaderboardView

urlpatterns = [
    path("models/", views.ModelListView.as_view(), name="model-list"),
    path("models/<str:namespace>/<str:name>/", views.ModelDetailView.as_view(), name="model-detail"),
    path("models/<str:namespace>/<str:name>/claims/", views.ModelClaimsView.as_view(), name="model-claims"),
    path(
        "models/<str:namespace>/<str:name>/weights/", views.ModelWeightsView.as_view(), name="model-weights"
    ),
    path(
        "models/<str:namespace>/<str:name>/mirror-weights/",
        views.ModelMirrorWeightsView.as_view(),
        name="model-mirror-weights",
    ),
    path(
        "weights-mirrors/<int:mirror_id>/",
        views.WeightsMirrorDetailView.as_view(),
        name="weights-mirror-detail",
    ),
    path(
        "models/<str:namespace>/<str:name>/starter-bundle/",
        views.StarterBundleView.as_view(),
        name="model-starter-bundle",
    ),
    path("leaderboard/<str:dataset>/", LeaderboardView.as_view(), name="leaderboard"),
]
