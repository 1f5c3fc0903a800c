"""fpic: a workflow engine for Free, Prior and Informed Consent processes."""

__version__ = "0.1.0"
