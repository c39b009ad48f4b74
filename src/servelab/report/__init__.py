"""Reports built from a results folder's files alone."""

from .build import build_report, load_study, render_markdown

__all__ = ["build_report", "load_study", "render_markdown"]
