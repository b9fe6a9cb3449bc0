from django.apps import AppConfig


class CoursesConfig(AppConfig):
    name = "studio_portal.courses"
    label = "courses"
