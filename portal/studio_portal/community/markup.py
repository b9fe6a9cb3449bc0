"""Posts are Markdown (CommonMark with tables): rendered by markdown-it-py with raw HTML off, code highlighted by
Pygments, ``@username`` mentions of course members marked, and the result sanitized by nh3 (ammonia) all the same,
so a flaw in one layer does not become a script in someone's browser."""

from __future__ import annotations

import re
from dataclasses import dataclass

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from pygments import highlight as pygments_highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

MENTION = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,149}")
MAX_BODY = 20_000  # characters of Markdown in one post
_FORMATTER = HtmlFormatter(nowrap=True)

TAGS = {
    "p",
    "br",
    "hr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "ul",
    "ol",
    "li",
    "strong",
    "em",
    "s",
    "code",
    "pre",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "span",
}
ATTRIBUTES = {
    "a": {"href", "title"},
    "span": {"class"},
    "pre": {"class"},
    "code": {"class"},
    "strong": {"class"},
    "ol": {"start"},
}


def _highlight(code: str, lang: str, attrs: str) -> str:
    try:
        lexer = get_lexer_by_name(lang or "python")
    except ClassNotFound:
        return f'<pre class="highlight"><code>{escapeHtml(code)}</code></pre>'
    return f'<pre class="highlight"><code>{pygments_highlight(code, lexer, _FORMATTER)}</code></pre>'


def _mention(state, silent: bool) -> bool:
    pos = state.pos
    if state.src[pos] != "@" or (pos > 0 and (state.src[pos - 1].isalnum() or state.src[pos - 1] in "_.+-")):
        return False  # not at a word's start: an email address, say
    m = MENTION.match(state.src, pos + 1)
    if not m:
        return False
    if not silent:
        state.push("mention", "", 0).content = m.group(0).rstrip(".")
    state.pos = pos + 1 + len(m.group(0).rstrip("."))
    return True


def _render_mention(self, tokens, idx, options, env) -> str:
    name = tokens[idx].content
    if name in env.get("members", ()):
        return f'<strong class="mention">@{escapeHtml(name)}</strong>'
    return f"@{escapeHtml(name)}"


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "highlight": _highlight}).enable(["table", "strikethrough"])
    md.inline.ruler.before("emphasis", "mention", _mention)
    md.add_render_rule("mention", _render_mention)
    return md


_MD = _parser()


@dataclass(frozen=True)
class Rendered:
    html: str
    mentioned: frozenset[str]  # usernames written as @name that are members


def mentions(body: str) -> set[str]:
    """Every ``@name`` in ``body`` outside code: who might be mentioned, before knowing who exists."""
    names = set()
    for block in _MD.parse(body):
        for token in block.children or ():
            if token.type == "mention":
                names.add(token.content)
    return names


def render(body: str, members: set[str] | frozenset[str] = frozenset()) -> Rendered:
    """Safe HTML for ``body``; ``members`` are the usernames that may be mentioned (the course's people)."""
    env = {"members": members}
    tokens = _MD.parse(body, env)
    html = _MD.renderer.render(tokens, _MD.options, env)
    clean = nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow ugc noopener noreferrer",
    )
    return Rendered(clean, frozenset(mentions(body) & set(members)))


def highlight_css() -> str:
    """The stylesheet for highlighted code (Pygments' default colours, which meet AA contrast on white)."""
    return _FORMATTER.get_style_defs(".highlight")
