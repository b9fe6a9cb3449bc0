"""Course forums (threads of posts) and study groups, each group with a thread of its own."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from wagtail.search import index


class Thread(index.Indexed, models.Model):
    course = models.ForeignKey("catalog.CoursePage", on_delete=models.CASCADE, related_name="threads")
    # A study group's own thread; None for the course forum's threads.
    group = models.OneToOneField("StudyGroup", on_delete=models.CASCADE, null=True, blank=True, related_name="thread")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="threads")
    title = models.CharField(max_length=200)
    pinned = models.BooleanField(default=False)
    locked = models.BooleanField(default=False)
    hidden = models.BooleanField(default=False)
    answer = models.OneToOneField("Post", on_delete=models.SET_NULL, null=True, blank=True, related_name="answers")
    created = models.DateTimeField(auto_now_add=True)
    last_activity = models.DateTimeField(auto_now_add=True, db_index=True)
    reply_count = models.PositiveIntegerField(default=0)  # kept by the services, so lists need no count query
    version = models.PositiveIntegerField(default=0)  # moves with every change to it or its posts: cache keys use it

    # Found by Wagtail search (PostgreSQL full text in production): the title and every post not hidden.
    search_fields = [
        index.SearchField("title", boost=2),
        index.SearchField("searchable_text"),
        index.FilterField("course"),
        index.FilterField("group"),
        index.FilterField("hidden"),
    ]

    class Meta:
        ordering = ["-pinned", "-last_activity"]
        indexes = [models.Index(fields=["course", "group", "-pinned", "-last_activity"], name="forum_listing")]

    def __str__(self) -> str:
        return f"{self.course.slug}: {self.title}"

    def searchable_text(self) -> str:
        return "\n\n".join(self.posts.filter(hidden=False).values_list("body", flat=True))


class Post(models.Model):
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="posts")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="posts")
    body = models.TextField()  # Markdown as written
    html = models.TextField()  # rendered and sanitized once, when written
    hidden = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)
    edited = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created", "id"]

    def __str__(self) -> str:
        return f"post {self.pk} by {self.author} in thread {self.thread_id}"


class StudyGroup(models.Model):
    course = models.ForeignKey("catalog.CoursePage", on_delete=models.CASCADE, related_name="study_groups")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, max_length=2000)
    capacity = models.PositiveSmallIntegerField(default=8)
    meeting_time = models.CharField(max_length=100, help_text="When the group meets, e.g. Tuesdays 18:00 UTC")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="GroupMembership", related_name="study_groups")
    member_count = models.PositiveSmallIntegerField(default=0)  # kept by the services under a row lock
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["course", "name"], name="one_group_name_per_course")]

    def __str__(self) -> str:
        return f"{self.course.slug}: {self.name}"


class GroupMembership(models.Model):
    group = models.ForeignKey(StudyGroup, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    joined = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "user"], name="one_membership_each")]


class ReviewRequest(models.Model):
    """A student asks peers of the course to review a notebook they submitted (its cells, without outputs)."""

    course = models.ForeignKey("catalog.CoursePage", on_delete=models.CASCADE, related_name="review_requests")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="review_requests")
    assignment = models.CharField(max_length=100)
    note = models.TextField(blank=True, max_length=2000)  # what the author would like feedback on
    cells = models.JSONField()  # [{"type": "code" | "markdown", "source": str, "html": str}], rendered once
    closed = models.BooleanField(default=False)
    hidden = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]


class ReviewComment(models.Model):
    request = models.ForeignKey(ReviewRequest, on_delete=models.CASCADE, related_name="comments")
    cell = models.PositiveIntegerField()  # the cell's index in the notebook
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    body = models.TextField()
    html = models.TextField()
    hidden = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["cell", "created", "id"]
