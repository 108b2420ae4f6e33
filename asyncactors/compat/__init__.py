"""Compatibility layers: other actor libraries' APIs on asyncactors.

``asyncactors.compat.ray`` runs code written for Ray's actors and tasks in
this process (see its docstring).
"""
