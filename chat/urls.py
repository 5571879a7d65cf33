"""Chat URLs: the widget's public API, the demo page, and the rep's panel endpoints."""

from django.urls import path

from chat import rep_views, views

app_name = "chat"

urlpatterns = [
    path("chat/w/<str:key>/config/", views.config, name="config"),
    path("chat/w/<str:key>/messages/", views.messages, name="messages"),
    path("chat/w/<str:key>/contact/", views.contact, name="contact"),
    path("chat/demo/", views.demo_page, name="demo"),
    path("chat/leads/<int:lead_id>/messages/", rep_views.lead_messages, name="lead-messages"),
    path("chat/leads/<int:lead_id>/reply/", rep_views.reply, name="reply"),
    path("chat/waiting/", rep_views.waiting, name="waiting"),
    path("chat/take/<str:thread>/", rep_views.take, name="take"),
]
