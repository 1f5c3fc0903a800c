"""The decision trail: hash chains, verification, export, and refusals on the record."""
