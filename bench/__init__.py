"""Dynovault's benchmarks: the ``python -m bench`` CLI and pytest-benchmark micro benchmarks
(``pytest bench/``), kept out of the test suite because they measure time. Not installed
with Dynovault: they run from the checkout's root."""
