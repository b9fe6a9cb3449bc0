from django.apps import AppConfig


class GradesConfig(AppConfig):
    name = "studio_portal.grades"
    label = "grades"
