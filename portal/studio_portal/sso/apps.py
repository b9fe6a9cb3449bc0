from django.apps import AppConfig


class SsoConfig(AppConfig):
    name = "studio_portal.sso"
    label = "sso"
