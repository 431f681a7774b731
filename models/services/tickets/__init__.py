"""The ticket aggregate: the one write path (commands), transitions, routing, intake, the board,
surveys, attachments, the portal and triage results.
"""
