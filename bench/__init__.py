"""Dynovault's benchmarks: the ``dynovault-bench`` load CLI and pytest-benchmark micro
benchmarks (``pytest bench/``), kept out of the test suite because they measure time."""
