"""The forum and study groups of a course: /courses/<slug>/forum/… and /courses/<slug>/groups/…"""

from django.urls import path

from . import views

urlpatterns = [
    path("forum/", views.forum, name="forum"),
    path("forum/new/", views.thread_new, name="forum_new"),
    path("forum/<int:pk>/", views.thread, name="forum_thread"),
    path("forum/<int:pk>/reply/", views.reply, name="forum_reply"),
    path("forum/<int:pk>/moderate/", views.moderate, name="forum_moderate"),
    path("forum/<int:pk>/posts/", views.post_action, name="forum_post_action"),
    path("forum/<int:pk>/posts/<int:post_pk>/edit/", views.post_edit, name="forum_post_edit"),
    path("forum/<int:pk>/posts/<int:post_pk>/answer/", views.mark_answer, name="forum_answer"),
    path("forum/<int:pk>/posts/<int:post_pk>/hide/", views.post_hide, name="forum_post_hide"),
    path("reviews/", views.reviews_page, name="reviews"),
    path("reviews/new/", views.review_new, name="review_new"),
    path("reviews/<int:pk>/", views.review, name="review"),
    path("reviews/<int:pk>/comment/", views.review_comment, name="review_comment"),
    path("reviews/<int:pk>/moderate/", views.review_moderate, name="review_moderate"),
    path("groups/", views.groups, name="groups"),
    path("groups/new/", views.group_new, name="group_new"),
    path("groups/<int:group_pk>/membership/", views.group_membership, name="group_membership"),
]
