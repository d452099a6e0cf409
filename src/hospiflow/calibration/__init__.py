"""Calibrating the twin from a site's own visits, and proving it reproduces them (issue 12).

``history`` reads a site's visits, ``arrivals``, ``distributions``, ``survival``,
``dispositions`` and ``capacity`` each estimate one part of the hospital, ``fit``
puts them into a scenario, ``writer`` writes it (scenario TOML, catalog TOML, fit
report CSV), ``validate`` simulates held-out weeks and scores the twin against them.
"""
