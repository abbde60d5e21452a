"""`glamsim` model commands (train, generate)."""

from __future__ import annotations
