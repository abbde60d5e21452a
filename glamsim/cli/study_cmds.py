"""`glamsim` scaling-study commands (study)."""

from __future__ import annotations
