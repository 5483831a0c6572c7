"""Offline evaluation of trained runs, baselines and reports."""
