"""Settings package: `base` holds what every environment shares, `local` is the default for
`manage.py` and `make run`, `test` is used by pytest, `production` refuses unsafe defaults."""
