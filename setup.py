"""Builds the optional C accelerator; the package works without it (pure Python).

Not on a free-threaded build: the C code relies on the GIL (and _ref.py would not use it).
"""

import sysconfig

from setuptools import Extension, setup

ext_modules = []
if not sysconfig.get_config_var("Py_GIL_DISABLED"):
    ext_modules.append(
        Extension("asyncactors._speedups", ["asyncactors/_speedups.c"], optional=True)
    )
setup(ext_modules=ext_modules)
