"""Measurement: XLA's own FLOP and byte counts, step timing, attainable peak and the run record.

The record (`Measurement`) is plain data: the cost model reads it without importing JAX.
"""
