# simlab: every target sets up what it needs; `.venv` is created on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.simlab-installed

.PHONY: setup test lab demo report report-assets chromium bench bench-data clean
ASSETS := build/widget-assets
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

setup: $(STAMP)

# Re-install only when the dependency list changes: a second `make setup` is instant.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Widget renderer and RequireJS for offline reports, from the npm registry.
report-assets: $(ASSETS)/.installed
$(ASSETS)/.installed:
	npm install --silent --no-audit --no-fund --prefix $(ASSETS) \
		@jupyter-widgets/html-manager@1.0.15 requirejs@2.3.8
	@touch $@

# Debian's Chromium, for the tests that drive JupyterLab and the report in a real browser.
# apt may upgrade other packages on the way; SIMLAB_SKIP_BROWSER=1 skips both the install
# and the browser tests.
SIMLAB_SKIP_BROWSER ?= 0
export SIMLAB_SKIP_BROWSER
chromium:
	@case "$(SIMLAB_SKIP_BROWSER)" in \
	""|0) command -v chromium >/dev/null || { \
		echo "installing Debian's chromium with apt-get (it may upgrade other packages;" \
			"SIMLAB_SKIP_BROWSER=1 skips this and the browser tests)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; } ;; \
	*) echo "SIMLAB_SKIP_BROWSER=$(SIMLAB_SKIP_BROWSER): chromium not installed, browser tests skip" ;; \
	esac

test: setup report-assets chromium
	SIMLAB_WIDGET_ASSETS=$(ASSETS)/node_modules $(BIN)/python -m pytest

# As root (a container, a CI machine) Jupyter refuses to start without --allow-root, and
# there is no desktop browser to open: print the URL instead.
LAB_PORT ?= 8888
LAB_FLAGS := $(if $(filter 0,$(shell id -u)),--allow-root --no-browser)
lab: setup
	@echo "JupyterLab on notebooks/: open the http://localhost:$(LAB_PORT)/lab?token=... URL printed below (Ctrl-C stops it)"
	$(BIN)/jupyter lab notebooks/ --ServerApp.port=$(LAB_PORT) $(LAB_FLAGS)

demo: setup
	$(BIN)/simlab demo --out reports/demo

report: setup report-assets
	$(BIN)/simlab report --out reports --assets $(ASSETS)/node_modules

# Wallpapers and photo-derived textures from Debian: distractors for `bench search`,
# periodic textures and symmetric designs for `bench integrity`.
BENCH_PACKAGES := gnome-backgrounds lomiri-wallpapers-20.04 mate-backgrounds openarena-081-textures openarena-088-data
bench-data:
	@dpkg -s $(BENCH_PACKAGES) >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(BENCH_PACKAGES); }

bench: setup bench-data
	$(BIN)/simlab bench compare
	$(BIN)/simlab bench methods
	$(BIN)/simlab bench pairs
	$(BIN)/simlab bench search
	$(BIN)/simlab bench integrity --out reports/bench-integrity
	$(BIN)/simlab bench search --hard
	$(BIN)/simlab bench papers
	$(BIN)/simlab bench scale

clean:
	rm -rf $(VENV) reports build .pytest_cache
