"""The signed-in pages: accounts (Django auth), the rep's queue, the lead page, the dashboard."""

from django.urls import include, path

from routing import dashboard_views, export_views, views

pages = [
    path("queue/", views.queue, name="queue"),
    path("queue/poll/", views.queue_poll, name="queue-poll"),
    path("queue/export.csv", export_views.queue_csv, name="queue-csv"),
    path("queue/claim/<int:lead_id>/", views.claim, name="claim"),
    path("leads/<int:lead_id>/", views.lead_detail, name="lead"),
    path("leads/<int:lead_id>/<slug:action>/", views.lead_action, name="lead-action"),
    path("dashboard/", dashboard_views.dashboard, name="dashboard"),
    path("dashboard/<slug:table>.csv", dashboard_views.dashboard_csv, name="dashboard-csv"),
]

urlpatterns = [
    # Django's own names (login, logout, password_reset, ...): its views reverse them bare.
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include((pages, "routing"))),
]
