from django.apps import AppConfig


class GamificationConfig(AppConfig):
    name = "studio_portal.gamification"
    label = "gamification"
