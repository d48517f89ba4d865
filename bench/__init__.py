"""Benchmarks (issue 3, "Speed"): scripts run by hand, never collected by pytest.

    .venv/bin/python -m bench.run_all [--quick]
    .venv/bin/python -m bench.push [--quick] [--profile]

See bench/README.md and docs/benchmarks.md.
"""
