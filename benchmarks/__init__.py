"""Measurements of coda: `make bench` runs them; each module says what it measures and how."""
