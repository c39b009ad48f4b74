"""Reports built from a results folder's files alone."""

from .build import build_report, render_markdown
from .files import load_study
from .html import build_html, render_html

__all__ = ["build_html", "build_report", "load_study", "render_html", "render_markdown"]
