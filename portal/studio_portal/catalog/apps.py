from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "studio_portal.catalog"
    label = "catalog"
