from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "studio_portal.notifications"
    label = "notifications"
