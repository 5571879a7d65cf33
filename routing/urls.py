"""The signed-in pages: accounts (Django auth), the rep's queue, the lead page, the dashboard."""

from django.urls import include, path

from capture import security_views
from routing import dashboard_views, export_views, views

pages = [
    path("", views.home, name="home"),
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
    # Before Django's own: the same page, with a limit on the emails it sends.
    path("accounts/password_reset/", security_views.PasswordResetView.as_view(),
         name="password_reset"),
    # The same, lifting the login lock of the account whose password the link resets.
    path("accounts/reset/<uidb64>/<token>/", security_views.PasswordResetConfirmView.as_view(),
         name="password_reset_confirm"),
    # Django's own names (login, logout, password_reset, ...): its views reverse them bare.
    path("accounts/", include("django.contrib.auth.urls")),
    # Two-factor sign-in, account security, "log out everywhere" (capture/security_views.py).
    path("accounts/two-factor/", security_views.two_factor, name="two-factor"),
    path("accounts/security/", security_views.account_security, name="account-security"),
    path("accounts/backup-codes/", security_views.make_backup_codes, name="backup-codes"),
    path("accounts/logout-everywhere/", security_views.logout_everywhere,
         name="logout-everywhere"),
    path("", include((pages, "routing"))),
]
