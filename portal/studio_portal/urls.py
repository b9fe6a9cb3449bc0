"""The portal's URLs: accounts, the OAuth2/OIDC provider, enrollment, admin, and Wagtail's pages last."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from oauth2_provider import urls as oauth2_urls
from wagtail import urls as wagtail_urls
from wagtail.admin import urls as wagtailadmin_urls

from studio_portal.accounts.views import logout_view
from studio_portal.courses.views import enroll
from studio_portal.grades.views import api_grades, course_grades, course_grades_csv
from studio_portal.health import healthz

# Only the provider's endpoints: no client self-registration or application management for users.
oauth2_patterns = (oauth2_urls.base_urlpatterns + oauth2_urls.oidc_urlpatterns, "oauth2_provider")

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", logout_view, name="logout"),
    path("healthz", healthz, name="healthz"),
    path("o/", include(oauth2_patterns)),
    path("courses/<slug:slug>/enroll/", enroll, name="enroll"),
    path("courses/<slug:slug>/grades/", course_grades, name="course_grades"),
    path("courses/<slug:slug>/grades.csv", course_grades_csv, name="course_grades_csv"),
    path("api/grades/", api_grades, name="api_grades"),
    path("cms/", include(wagtailadmin_urls)),
    path("django-admin/", admin.site.urls),
    path("", include(wagtail_urls)),
]
