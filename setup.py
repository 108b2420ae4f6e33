"""Builds the optional C accelerator; the package works without it (pure Python)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("asyncactors._speedups", ["asyncactors/_speedups.c"], optional=True)])
