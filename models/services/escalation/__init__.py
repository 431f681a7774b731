"""What happens when time runs out: the SLA engine (reminders, escalation ladder, overdue flags,
low-score follow-ups, digest) and extension requests.
"""
