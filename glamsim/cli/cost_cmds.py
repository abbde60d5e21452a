"""`glamsim` training and serving cost commands (profiles, estimate, compare, reproduce)."""

from __future__ import annotations
