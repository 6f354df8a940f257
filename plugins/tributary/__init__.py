"""Tributary: replicate OLTP tables into a Parquet lake, verified and committed per window."""

from __future__ import annotations

__version__ = "0.1.0"
