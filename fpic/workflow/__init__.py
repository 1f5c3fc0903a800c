"""The engine: process templates, the FPIC rules (guards), who may act (permissions),
the declared actions and the transaction that fires them."""
