import os

# Benchmarks seed 100,000 cases: they run only with BENCH=1 (`make bench`), never in the normal suite.
collect_ignore_glob = [] if os.environ.get("BENCH") == "1" else ["test_*.py"]
