"""Osmanthus: a civic-credit points platform that can be trusted."""

__version__ = "0.1.0"
