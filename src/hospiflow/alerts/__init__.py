"""Alerts: when a run turns red or crosses a tension threshold, say so once.

``conditions`` (pure: which checks raise an alert), ``webhook`` (delivery to
``HOSPIFLOW_ALERT_WEBHOOK`` with retries in a thread of its own). The rows live in
``hospiflow.store.alerts``; ``hospiflow.web.alerting`` checks the live runs and
fed sites periodically and serves ``/alerts``.
"""
