"""The portal's URLs: accounts, the OAuth2/OIDC provider, enrollment, grades, community, notifications, admin,
and Wagtail's pages last."""

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django_ratelimit.decorators import ratelimit
from oauth2_provider import urls as oauth2_urls
from wagtail import urls as wagtail_urls
from wagtail.admin import urls as wagtailadmin_urls

from studio_portal.accounts.views import logout_view
from studio_portal.analytics import views as analytics_views
from studio_portal.courses.views import enroll
from studio_portal.gamification import views as gamification_views
from studio_portal.grades.views import api_assignments, api_grades, course_grades, course_grades_csv
from studio_portal.health import healthz
from studio_portal.notifications import views as notification_views
from studio_portal.search_views import search

# Only the provider's endpoints: no client self-registration or application management for users.
oauth2_patterns = (oauth2_urls.base_urlpatterns + oauth2_urls.oidc_urlpatterns, "oauth2_provider")


def _limited(view, key: str, setting: str):
    """``view`` with a rate limit on its POSTs (PUTs for the APIs), read from ``settings.<setting>`` per call."""
    return ratelimit(
        key=key, rate=lambda group, request: getattr(settings, setting), method=["POST", "PUT"], block=True
    )(view)


# Password guessing is limited per client address and, separately, per username tried.
login = _limited(
    _limited(auth_views.LoginView.as_view(redirect_authenticated_user=True), "ip", "STUDIO_LOGIN_RATE"),
    "post:username",
    "STUDIO_LOGIN_RATE",
)

urlpatterns = [
    path("accounts/login/", login, name="login"),
    path("accounts/logout/", logout_view, name="logout"),
    path("healthz", healthz, name="healthz"),
    path("o/", include(oauth2_patterns)),
    path("courses/<slug:slug>/enroll/", enroll, name="enroll"),
    path("courses/<slug:slug>/grades/", course_grades, name="course_grades"),
    path("courses/<slug:slug>/grades.csv", course_grades_csv, name="course_grades_csv"),
    path("courses/<slug:slug>/", include("studio_portal.community.urls")),
    path("courses/<slug:slug>/analytics/", analytics_views.course_analytics, name="course_analytics"),
    path("courses/<slug:slug>/analytics.csv", analytics_views.course_analytics_csv, name="course_analytics_csv"),
    path("courses/<slug:slug>/leaderboard/", gamification_views.board, name="leaderboard"),
    path("courses/<slug:slug>/leaderboard/membership/", gamification_views.membership, name="leaderboard_membership"),
    path("dashboard/", analytics_views.my_dashboard, name="dashboard"),
    path("search/", search, name="search"),
    path("notifications/", notification_views.notifications, name="notifications"),
    path("notifications/read/", notification_views.mark_read, name="notifications_read"),
    path("api/grades/", _limited(api_grades, "ip", "STUDIO_API_RATE"), name="api_grades"),
    path("api/assignments/", _limited(api_assignments, "ip", "STUDIO_API_RATE"), name="api_assignments"),
    path("api/events/", _limited(analytics_views.api_events, "ip", "STUDIO_API_RATE"), name="api_events"),
    path("cms/", include(wagtailadmin_urls)),
    path("django-admin/", admin.site.urls),
    path("", include(wagtail_urls)),
]
