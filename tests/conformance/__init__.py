"""scipy's own ``scipy.ndimage.tests`` run through bigimg: the conformance suite.

``plugin`` replaces every scipy.ndimage function bigimg implements by a wrapper that
chunks the test's arrays, calls bigimg and computes the result; ``known_failures``
lists what still fails and why (strict xfails); ``test_scipy_suite`` runs the suite
twice (one chunk per array, about three chunks per axis) in CI; ``python -m
tests.conformance`` runs it and prints the per-function table.
"""
