from django.apps import AppConfig


class CommunityConfig(AppConfig):
    name = "studio_portal.community"
    label = "community"
