"""Logging out of Learning Studio: the portal session and the hub's.

GET shows a page (a confirmation when logged in, "you are logged out" otherwise); POST ends the portal session
and continues at the hub's logout, which ends the hub session and comes back here. The hub's own logout
(JupyterLab's File → Log Out) lands on this page too, so either way one more click ends both.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import logout
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods


@require_http_methods(["GET", "POST"])
def logout_view(request):
    if request.method == "POST":
        logout(request)
        return redirect(f"{settings.STUDIO_HUB_URL}/hub/logout")
    return render(request, "accounts/logout.html", {"hub_url": settings.STUDIO_HUB_URL})
