"""`python -m glamsim` runs the command line."""

from glamsim.cli import script

script()
