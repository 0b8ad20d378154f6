# musicgen studio: `make run` starts the app, `make test` runs the tests.
# Both first run an idempotent setup: system packages (FluidSynth and a General MIDI
# SoundFont) when they can be installed, then a virtual environment in .venv with
# requirements.txt. A second run skips what is already there.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
APT_PACKAGES := libfluidsynth3 fluid-soundfont-gm chromium
PORT ?= 8501

.PHONY: run test setup system-deps lint bench examples models model-reports copy-indexes clean

run: setup
	$(VENV)/bin/streamlit run app.py --server.port $(PORT)

test: setup
	$(VENV)/bin/ruff check musicgen pages tests app.py
	$(PY) -m pytest

bench: setup
	$(PY) -m musicgen bench --json bench.json

examples: setup
	$(PY) -m musicgen.examples

# The shipped checkpoints in assets/models, exactly as they were trained (on a 2-core
# CPU: see each model's card.md for the time; a GPU is used when there is one).
models: setup
	$(PY) -m musicgen train --model rnn --corpus jsb --size jsb --weight-decay 0.1 --steps 7000 --batch-size 8 \
	  --eval-every 500 --ema 0.999 --name rnn-jsb-first --out build/rnn-jsb-first --fresh \
	  --description "Bach chorales (JSB Chorales benchmark, quarter notes)"
	$(PY) -m musicgen train --model rnn --corpus jsb --init-from build/rnn-jsb-first --weight-decay 0.1 \
	  --steps 5000 --batch-size 8 --lr 1e-3 --eval-every 500 --ema 0.999 --seed 1 --name rnn-jsb \
	  --out assets/models/rnn-jsb --fresh --description "Bach chorales (JSB Chorales benchmark, quarter notes)"
	$(PY) -m musicgen train --model rnn --corpus folk --limit 1098 --size folk --steps 3000 --eval-every 250 \
	  --name rnn-folk --out assets/models/rnn-folk --fresh \
	  --description "Irish and Scottish fiddle tunes (O'Neill's 1850 and Ryan's Mammoth Collection)"
	$(PY) -m musicgen train --model gan --corpus bach --size bach --steps 8000 --eval-every 500 --lr 5e-4 \
	  --name gan-bach --out assets/models/gan-bach --fresh \
	  --description "Bach chorales (music21's corpus, four voices, eighth-note grid)"
	$(PY) -m musicgen train --model gan --corpus folk --limit 1098 --size folk --steps 8000 --eval-every 500 --lr 5e-4 \
	  --name gan-folk --out assets/models/gan-folk --fresh \
	  --description "Irish and Scottish fiddle tunes (O'Neill's 1850 and Ryan's Mammoth Collection)"
	rm -f assets/models/*/train_state.pt
	$(MAKE) copy-indexes model-reports

# The shipped models' copy indexes (their training melodies as interval n-grams), so that a
# fresh server checks and guards takes at once instead of reading the corpora first.
copy-indexes: setup
	rm -rf assets/copy-index
	$(PY) -m musicgen.originality --ship rnn-jsb rnn-folk gan-bach gan-folk

# What the Models page and the README show of each shipped model: the JSB benchmark and
# an evaluation report (held-out continuations, two-sample test, copy checks).
model-reports: setup
	$(PY) -m musicgen evaluate --benchmark jsb --model rnn-jsb --json assets/models/rnn-jsb/benchmark.json
	for m in rnn-jsb rnn-folk gan-bach gan-folk; do \
	  $(PY) -m musicgen evaluate --model $$m --report assets/models/$$m/evaluation || exit 1; done

setup: system-deps $(STAMP)

# Installs the Debian/Ubuntu packages that are missing: as root directly, else with
# sudo when it needs no password, else prints the exact command to run.
system-deps:
	@missing=""; \
	if ! command -v dpkg >/dev/null 2>&1; then \
	  echo "note: not a Debian/Ubuntu system; install FluidSynth 2 and a General MIDI SoundFont (e.g. FluidR3_GM) for realistic audio. Until then a built-in synth plays."; \
	  exit 0; \
	fi; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	$(PYTHON) -c "import ensurepip" >/dev/null 2>&1 || missing="$$missing python3-venv"; \
	[ -z "$$missing" ] && exit 0; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo"; \
	else \
	  echo "note: some system packages are missing. Install them with:"; \
	  echo "  sudo apt-get install -y$$missing"; \
	  echo "Until then the app plays audio with its built-in synth."; \
	  exit 0; \
	fi; \
	echo "installing system packages:$$missing"; \
	$$sudo apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing >/dev/null

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis test-output
