# Django's Russian formats, with a day and month in the genitive ("27 ноября", not "27 Ноябрь"),
# as the admin's date drill-down shows them.
MONTH_DAY_FORMAT = "j E"
