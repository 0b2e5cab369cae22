"""Load and growth benchmarks (`make bench`). Not part of the test run.

Enabled as a Django app only by `minicrm_project.settings.bench`, which adds the baseline
endpoint (`bench.views`) and the set-up, bulk-load and check commands the runner calls."""
