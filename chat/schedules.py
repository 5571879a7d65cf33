"""chat's django-q2 schedules (installed on migrate by capture.schedules)."""

from capture import schedules

SCHEDULES = {
    # A chat is abandoned after CHAT_ABANDONED_MINUTES (30): five minutes later at most is soon
    # enough for the waiting box, and the sweep is one indexed query when nothing is due.
    "chat: close abandoned chats": ("chat.tasks.close_abandoned_chats", 5),
}


def connect(app_config) -> None:
    schedules.connect(app_config, SCHEDULES)
