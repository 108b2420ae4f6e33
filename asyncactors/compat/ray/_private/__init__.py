"""Ray's ``ray._private``: here only ``test_utils.wait_for_condition``, which Ray test
suites import from it; Ray's other internals do not exist in one process."""
