"""Formatting for the dashboards."""

from django import template

register = template.Library()


@register.filter
def duration(seconds) -> str:
    """Seconds as people say it: "45 min", "2 h 5 min"."""
    minutes = round((seconds or 0) / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


@register.filter
def percent(fraction) -> str:
    return f"{round(100 * (fraction or 0))}%"
