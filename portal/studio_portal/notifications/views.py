"""A person's notifications: the list, and marking them read."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from .models import Notification
from .services import notifications_mark_read


@login_required
@require_GET
def notifications(request):
    rows = Notification.objects.filter(user=request.user).order_by("-created", "-id")
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    return render(request, "notifications/notifications.html", {"page": page})


@login_required
@require_POST
def mark_read(request):
    ids = [int(i) for i in request.POST.getlist("id") if i.isdigit()] or None
    notifications_mark_read(user=request.user, ids=ids)
    return redirect("notifications")
