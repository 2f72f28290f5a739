from django.urls import path

from catalog import views
from catalog.leaderboard import views as leaderboard_views

app_name = "catalog"
urlpatterns = [
    path("", views.catalog_index, name="index"),
    path("plot.svg", views.catalog_plot, name="plot"),
    path("models/<str:namespace>/<str:name>/", views.model_detail, name="model-detail"),
    path(
        "models/<str:namespace>/<str:name>/weights/", views.model_weights_upload, name="model-weights-upload"
    ),
    path(
        "models/<str:namespace>/<str:name>/mirror-weights/",
        views.model_mirror_weights,
        name="model-mirror-weights",
    ),
    path(
        "models/<str:namespace>/<str:name>/starter-bundle/",
        views.model_starter_bundle,
        name="model-starter-bundle",
    ),
    path("compare/", views.compare, name="compare"),
    path("leaderboard/", leaderboard_views.leaderboard, name="leaderboard-default"),
    path("leaderboard/<str:dataset>/", leaderboard_views.leaderboard, name="leaderboard"),
    path("leaderboard/<str:dataset>.csv", leaderboard_views.leaderboard_csv, name="leaderboard-csv"),
]
