"""`glamsim` measurement commands (measure, runs)."""

from __future__ import annotations
