"""Message catalogs of the interface (``messages.pot`` and ``<locale>/LC_MESSAGES/*.po``).

A package only so the catalogs travel inside a wheel; they are compiled when the app starts.
"""
