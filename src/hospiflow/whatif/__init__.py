"""What-if on a hospital: a change set applied to a scenario, paired replications of
both arms, and the difference of each measure with its confidence interval.

``changes.py`` (the levers, checked, applied), ``measures.py`` (what is compared,
run in the pool's workers), ``paired.py`` (the paired-t interval), ``compare.py``
(``run_whatif``). Pure: no store, no web. Importing this package imports nothing
heavy, so the pool's workers load only what a run needs.
"""
