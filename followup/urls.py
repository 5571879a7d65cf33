"""followup's public URLs: the unsubscribe page (GET asks, POST unsubscribes)."""

from django.urls import path

from followup import views

app_name = "followup"

urlpatterns = [
    path("u/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
