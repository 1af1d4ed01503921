"""Execution backends: one small interface (base.py), one file per implementation."""
