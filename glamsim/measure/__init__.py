"""Measurement: XLA's own FLOP and byte counts, step timing, attainable peak, written as a run record.

The record (`Measurement`) lives in `glamsim.records`, with the data schemas: plain pydantic that the
cost model reads without importing JAX or this package.
"""
