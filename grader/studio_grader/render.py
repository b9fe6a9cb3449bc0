"""HTML of a student's notebook (formgrader's submission view, feedback) with nothing of theirs that can run.

nbconvert renders a notebook's Markdown, HTML, SVG and JavaScript outputs as they are, and nbgrader's formgrade and
feedback templates render Markdown cells without its ``sanitize_html`` switch. A submission is the student's to
write, outputs and metadata included, and these pages open on the grading service's origin in a grader's browser.
So every piece of HTML that comes from the notebook goes through nh3 (ammonia, a maintained sanitiser) with a
list of tags and attributes made for notebooks: no script, no event handler, no ``javascript:``; images only as
``data:image/...`` or relative; JavaScript and widget outputs are dropped (nbconvert's ``sanitize_html``).

- :class:`SanitizingHTMLExporter`: formgrader's submission view (the grading service's formgrader puts it in
  place of nbgrader's exporter). Its own scripts come before the notebook; the service's proxy gives only those a
  Content-Security-Policy nonce.
- :class:`FeedbackHTMLExporter`: feedback files (``GenerateFeedback.exporter_class``), which need no script at all:
  they also carry a Content-Security-Policy that allows none, wherever they are opened.
"""

from __future__ import annotations

import html
import re

import nh3
from jinja2 import pass_context
from nbconvert.exporters import HTMLExporter
from traitlets import Bool, Unicode

# Tags besides ammonia's defaults that notebook outputs use (pandas' tables, captions, rendered Markdown).
# No <style>: a submission's CSS could restyle the grading form around it.
EXTRA_TAGS = {"tfoot", "input"}
ATTRIBUTES = {
    "*": {"class", "id", "title", "lang", "dir", "align", "colspan", "rowspan", "scope"},
    "a": {"href", "hreflang"},
    "img": {"src", "alt", "width", "height"},
    "input": {"type", "checked", "disabled"},  # task lists in Markdown
    "ol": {"start"},
}
DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif|webp|svg\+xml)(;base64)?,", re.I)


def _attribute(tag: str, name: str, value: str) -> str | None:
    if tag == "input" and name == "type" and value != "checkbox":
        return None
    if name in ("href", "src") and value.lower().startswith("data:"):
        # An image's own data (matplotlib's PNG, a Markdown attachment); never a data: page to navigate to.
        return value if tag == "img" and name == "src" and DATA_IMAGE.match(value) else None
    return value


def clean_html(html) -> str:
    """``html`` (text or bytes) with only what a notebook's rendering needs and nothing that runs."""
    text = html.decode() if isinstance(html, bytes) else str(html)
    return nh3.clean(
        text,
        tags=set(nh3.ALLOWED_TAGS) | EXTRA_TAGS,
        attributes=ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "data"},
        attribute_filter=_attribute,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


class SanitizingHTMLExporter(HTMLExporter):
    """nbconvert's HTMLExporter with every piece of the notebook's HTML through :func:`clean_html`; a notebook the
    grading sandbox flagged opens with why it needs review."""

    sanitize_html = Bool(True, help="Always on here: a submission's HTML is the student's.").tag(config=False)
    show_review = Bool(
        True,
        help="A flagged notebook opens with why it needs review (the reasons the grading "
        "sandbox gave). c.SanitizingHTMLExporter.show_review = True",
    ).tag(config=True)

    def from_notebook_node(self, nb, resources=None, **kw):
        output, resources = super().from_notebook_node(nb, resources, **kw)
        studio = nb.metadata.get("studio", {}) if self.show_review else {}
        studio = studio if isinstance(studio, dict) else {}
        reasons, in_process = studio.get("needs_review"), studio.get("in_process")
        banners = ""
        if reasons and isinstance(reasons, list):
            info = resources or {}
            banners += review_banner(reasons, info.get("assignment_id"), info.get("notebook_id"))
        if in_process and isinstance(in_process, list):
            banners += in_process_note(in_process)
        if banners:
            # Before the student's notebook, where the page is formgrader's (and its scripts get the page's nonce).
            at = notebook_start(output)
            output = output[:at] + banners + output[at:]
        return output, resources

    def default_filters(self):
        for name, value in super().default_filters():
            yield name, clean_html if name == "clean_html" else value

    @pass_context
    def markdown2html(self, context, source):
        # nbgrader's formgrade and feedback templates render Markdown cells without clean_html: it is done here.
        return clean_html(super().markdown2html(context, source))


# Formgrader's submission view: the student's notebook from here on (its template's ``<div class=... id="notebook">``).
NOTEBOOK_START = r'<div\b[^>]*\bid="notebook"'


def notebook_start(page: str | bytes) -> int:
    """Where the student's notebook starts in a formgrader page (its end where there is none: a page of formgrader's
    own). Everything before is formgrader's, and only scripts there may run (the grading service's nonce)."""
    found = re.search(NOTEBOOK_START.encode() if isinstance(page, bytes) else NOTEBOOK_START, page, re.I)
    return found.start() if found else len(page)


# The banner's button clears (or sets again) the flag through formgrader's own API, as its Ctrl+Shift+F does; it
# acts only on the banner outside the notebook (a submission may carry an element of that id in its Markdown).
REVIEW_SCRIPT = """
document.addEventListener("DOMContentLoaded", function () {
  var banner = document.getElementById("studio-needs-review");
  if (!banner || banner.closest("#notebook")) { return; }
  var button = document.createElement("button"), said = document.createElement("span");
  button.type = "button"; button.className = "btn btn-default"; button.textContent = "Reviewed: clear the flag";
  said.setAttribute("role", "status"); said.style.marginLeft = "1em";
  function show(flagged) {
    said.textContent = flagged ? "" : "Reviewed: the flag is cleared, the points count.";
    button.textContent = flagged ? "Reviewed: clear the flag" : "Flag it again";
  }
  var list = base_url + "/api/submitted_notebooks/" + encodeURIComponent(banner.dataset.assignment) + "/" +
             encodeURIComponent(banner.dataset.notebook);
  fetch(list, {credentials: "same-origin", cache: "no-store", headers: {"X-CSRFToken": getCookie("_xsrf")}})
    .then(function (r) { return r.json(); }).then(function (rows) {
    rows.forEach(function (row) { if (row.id === submission_id) { show(row.flagged); } });
  }).catch(function () {});
  button.addEventListener("click", function () {
    fetch(base_url + "/api/submitted_notebook/" + submission_id + "/flag",
          {method: "POST", credentials: "same-origin", headers: {"X-CSRFToken": getCookie("_xsrf")}})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) {
        if (typeof data === "string") { data = JSON.parse(data); }
        show(data.flagged);
        if (data.flagged) { said.textContent = "Flagged again."; }
      })
      .catch(function (e) { said.textContent = "The flag could not be changed (" + e.message + ")."; });
  });
  banner.appendChild(button);
  banner.appendChild(said);
});
"""


def review_banner(reasons: list, assignment: str | None = None, notebook: str | None = None) -> str:
    """What a grader reads first in a flagged submission (HTML; each reason escaped: some quote the notebook)."""
    items = "".join(f"<li>{html.escape(str(r))}</li>" for r in reasons)
    where = f'data-assignment="{html.escape(str(assignment))}" data-notebook="{html.escape(str(notebook))}"'
    return (
        f'<div id="studio-needs-review" class="alert alert-warning" role="alert" {where}>'
        "<strong>Needs review.</strong> The grading sandbox flagged this submission: its points are not final "
        "until you clear the flag, once you "
        f"have looked.<ul>{items}</ul><script>{REVIEW_SCRIPT}</script></div>"
    )


def in_process_note(cells: list) -> str:
    """What a grader reads on every submission of a notebook whose course runs some tests in-process (HTML)."""
    names = ", ".join(html.escape(str(c)) for c in cells)
    return (
        '<div id="studio-in-process" class="alert alert-info" role="note"><strong>In-process tests:</strong> '
        f"{names}. The course runs these test cells in the student's interpreter, as stock nbgrader does (the "
        '<code>"studio": {"in_process": true}</code> of their metadata in the source notebook), not in the judge: '
        "the submission's code can change their verdicts and read their hidden tests. Read its code before you "
        "trust them.</div>"
    )


# Feedback files are read by students, who open them in JupyterLab or a browser: no script of any kind runs there.
FEEDBACK_CSP = (
    "default-src 'none'; img-src data: 'self'; style-src 'self' 'unsafe-inline'; font-src data: 'self'; "
    "base-uri 'none'; form-action 'none'"
)


class FeedbackHTMLExporter(SanitizingHTMLExporter):
    show_review = Bool(False, help="Feedback is the student's: the reasons are the course team's.").tag(config=False)
    content_security_policy = Unicode(
        FEEDBACK_CSP,
        help="The feedback page's own Content-Security-Policy (a meta "
        "tag first in its head). c.FeedbackHTMLExporter.content_security_policy = '...'",
    ).tag(config=True)
    exclude_scripts = Bool(
        True,
        help="Remove the template's own <script> elements (MathJax's loader): the policy would refuse them anyway.",
    ).tag(config=True)

    def from_notebook_node(self, nb, resources=None, **kw):
        output, resources = super().from_notebook_node(nb, resources, **kw)
        if self.exclude_scripts:
            output = re.sub(r"<script\b.*?</script\s*>", "", output, flags=re.S | re.I)
        meta = f'<meta http-equiv="Content-Security-Policy" content="{self.content_security_policy}">'
        output, found = re.subn(r"<head\b[^>]*>", lambda m: m.group(0) + meta, output, count=1, flags=re.I)
        if not found:
            output = meta + output
        return output, resources
