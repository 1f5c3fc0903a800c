# Everyday commands; the README's Quick start needs none of them.
PY := .venv/bin/python
BABEL := .venv/bin/pybabel

.PHONY: test lint fmt lock i18n-extract i18n-update i18n-compile

test:
	.venv/bin/pytest

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

fmt:
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .

# requirements.lock: every package the app, the tests and the editable build install, pinned
# with hashes, resolved from pyproject.toml's ranges (.ci/run and the README install from it).
# Resolved against the public index alone: a machine's own wheel folders or extra indexes would
# add hashes nobody else can fetch.
lock:
	.venv/bin/pip install -q 'pip-tools>=7.4'
	PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= CUSTOM_COMPILE_COMMAND="make lock" \
		.venv/bin/pip-compile -q --upgrade --generate-hashes --allow-unsafe --strip-extras \
		--extra test --build-deps-for editable --no-emit-index-url --no-emit-find-links \
		-o requirements.lock pyproject.toml

i18n-extract:
	$(BABEL) extract -F babel.cfg -k _l -k N_ -c "i18n:" --sort-by-file --project fpic \
		--version 0.1.0 -o translations/messages.pot .

i18n-update: i18n-extract
	$(BABEL) update -i translations/messages.pot -d translations --no-fuzzy-matching

i18n-compile:
	$(BABEL) compile -d translations --statistics
