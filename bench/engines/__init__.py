"""Task-engine comparison (how the product's engine was chosen; README, "Background work").

`python -m bench.engines.run ENGINE DB` with ENGINE one of huey-sqlite, huey-redis, q2-orm and
DB sqlite or pg (BENCH_ENGINES_PG, default the local server's minicrm_bench_engines). Needs
`pip install -r bench/requirements.txt` (django-q2 is there only for this comparison)."""
