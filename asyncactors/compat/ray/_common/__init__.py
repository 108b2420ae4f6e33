"""Ray's ``ray._common``: here only ``test_utils``, the helpers Ray test suites import."""
