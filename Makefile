# Everyday commands; the README's Quick start needs none of them.
PY := .venv/bin/python
BABEL := .venv/bin/pybabel

.PHONY: test lint fmt i18n-extract i18n-update i18n-compile

test:
	.venv/bin/pytest

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

fmt:
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .

i18n-extract:
	$(BABEL) extract -F babel.cfg -k _l -k N_ -c "i18n:" --sort-by-file --project fpic \
		--version 0.1.0 -o translations/messages.pot .

i18n-update: i18n-extract
	$(BABEL) update -i translations/messages.pot -d translations --no-fuzzy-matching

i18n-compile:
	$(BABEL) compile -d translations --statistics
