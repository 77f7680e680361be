"""Validation with a regex (#25): benchmarks/validation_throughput.py's 1M-row suite with one expectation
swapped for `expect_column_values_to_match_regex`, so `validation_run` sends it to its warm worker process
(GX imported once, its engine kept; the file is read in the worker on every call) while GX directly runs
it in process. Same JSON line as validation_throughput.py; target ratio <= 1.15.
"""

from __future__ import annotations

import os
import runpy
from pathlib import Path

if __name__ == "__main__":
    os.environ["VALIDATION_BENCH_SUITE"] = "regex"
    os.environ["VALIDATION_BENCH_FIGURE"] = "validation_throughput_regex"
    runpy.run_path(str(Path(__file__).with_name("validation_throughput.py")), run_name="__main__")
