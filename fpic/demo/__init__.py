"""Demo data: seeded once, for trying fpic."""
