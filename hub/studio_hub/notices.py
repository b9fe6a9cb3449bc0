"""What the hub's own pages tell a learner about their server, through JupyterHub's ``announcement`` banner.

``c.JupyterHub.template_vars["announcement"] = server_notice``: JupyterHub calls it with the signed-in user for
every page it renders (home, "server not running", spawn pending), so a learner whose server died sees why on the
very page that offers to start it again.
"""

from __future__ import annotations

from html import escape


def server_notice(user) -> str:
    """HTML for the banner: why ``user``'s server stopped on its own, while it is not running again; else ""."""
    if user is None or "" not in user.orm_user.orm_spawners:
        return ""  # signed out, or never started a server
    # JupyterHub replaces a spawner object once its server has stopped; the new one loads the reason from the
    # state the old one saved.
    spawner = user.spawners[""]
    reason = getattr(spawner, "stopped_reason", "")
    if not reason or spawner.active:
        return ""
    return (
        '<p role="alert" id="studio-server-stopped"><strong>Your server stopped on its own:</strong> '
        f"{escape(reason)}</p><p>Your files are kept. Start the server again to go on; anything that was only in "
        "memory (variables, running programs) is gone.</p>"
    )
