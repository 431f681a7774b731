"""Service-level time: business-calendar deadline arithmetic, the policy a ticket is measured
against, and its admin settings.
"""
