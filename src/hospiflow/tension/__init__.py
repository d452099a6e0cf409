"""Hospital tension: the one definition of saturation (hourly status), the FEDORU daily
"hôpital en tension" indicators and the NEDOCS / EDWIN crowding scores.

Pure computations (no storage, no web): ``status`` (the status rule every view
shares), ``het`` (daily indicators scored against the site's own history) and
``scores`` (NEDOCS, EDWIN). ``hospiflow.store.tension`` reads their inputs from a
run's visits and stores the daily answer.
"""
