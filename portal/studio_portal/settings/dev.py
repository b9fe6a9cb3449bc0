"""For developers on their own machine: debug pages, static files served from the apps."""

from .base import *  # noqa: F403

DEBUG = True
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
