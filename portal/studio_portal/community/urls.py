"""The forum and study groups of a course: /courses/<slug>/forum/… and /courses/<slug>/groups/…"""

from django.urls import path

from . import views

urlpatterns = [
    path("forum/", views.forum, name="forum"),
    path("forum/new/", views.thread_new, name="forum_new"),
    path("forum/<int:pk>/", views.thread, name="forum_thread"),
    path("forum/<int:pk>/reply/", views.reply, name="forum_reply"),
    path("forum/<int:pk>/moderate/", views.moderate, name="forum_moderate"),
    path("forum/<int:pk>/posts/<int:post_pk>/edit/", views.post_edit, name="forum_post_edit"),
    path("forum/<int:pk>/posts/<int:post_pk>/answer/", views.mark_answer, name="forum_answer"),
    path("forum/<int:pk>/posts/<int:post_pk>/hide/", views.post_hide, name="forum_post_hide"),
    path("groups/", views.groups, name="groups"),
    path("groups/new/", views.group_new, name="group_new"),
    path("groups/<int:group_pk>/membership/", views.group_membership, name="group_membership"),
]
