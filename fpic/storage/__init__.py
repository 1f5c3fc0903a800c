"""The database: engines and sessions, the models, migrations and the production role."""
