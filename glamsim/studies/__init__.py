"""Scripted scaling studies: YAML specs, vectorised sweeps, results, ledgers and figures."""
