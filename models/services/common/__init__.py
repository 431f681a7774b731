"""What every domain builds on: the actor, domain errors, audit, numbering, contact crypto, rate
limits, blob storage, priority rank, job names.
"""
