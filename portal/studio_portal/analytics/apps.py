from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "studio_portal.analytics"
    label = "analytics"
