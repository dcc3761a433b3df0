"""Validation: the probe batch, outputs and drift, each check, changes read back, and the suite that runs them."""
