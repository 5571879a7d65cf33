"""followup's URLs: the public unsubscribe page (GET asks, POST unsubscribes); marking the
queue page's notifications read (signed in, under /queue/)."""

from django.urls import path

from followup import notification_views, views

app_name = "followup"

urlpatterns = [
    path("u/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("queue/notifications/read/", notification_views.mark_all_read,
         name="notifications-read"),
    path("queue/notifications/<int:notification_id>/read/", notification_views.mark_read,
         name="notification-read"),
]
