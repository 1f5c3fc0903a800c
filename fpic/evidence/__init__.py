"""Evidence files: what the community was shown and what it signed, kept with the case.

A file is received (``intake``: its size, its type read from its content, its SHA-256 and a safe
name, all before anything is written), stored content-addressed in the database in the action's
own transaction (``store``), listed with its hash on the action's trail event, and checked
again by ``fpic audit verify`` and in the auditor's evidence bundle (``bundle``).
"""
