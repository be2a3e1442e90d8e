"""Stalled cases and alerts: the stall rules as set-based SQL (rules.py), the alert lifecycle with
escalation (lifecycle.py), who is told (audience.py, notify.py), quiet hours and digest
(schedule.py), and the periodic runner inside the server (runner.py). See docs/alerts.md."""
