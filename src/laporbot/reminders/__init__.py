"""Deadlines in motion: reminder plans, the planner, the service API, the sweep and the digest.

Kept import-light: `laporbot.standards` embeds `plans.ReminderPlanSpec` in its schema, so this
package must not import storage or the standards registry at import time.
"""
