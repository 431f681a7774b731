"""Demo data for `make run` and benchmarks, built through the services."""
