# Every target installs what it needs into .venv on first use.
# CONFIG=... picks the experiment, ARGS="key.path=value ..." overrides config keys.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
NMT := $(VENV)/bin/nmt
CONFIG ?=
VARY ?= model.cell=lstm,peephole,cifg,gru
ARGS ?=
export TF_CPP_MIN_LOG_LEVEL ?= 3

.PHONY: protection protect-default glossary catalog install train train-distributed translate serve score evaluate average export data bench bench-peer decode-peer compare matrix recipes precision defaults docs results lint test test-fast clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV) >&2
	@$(VENV)/bin/python -m pip install --quiet --upgrade pip >&2
	@$(VENV)/bin/python -m pip install --quiet -e ".[dev]" >&2
	@touch $@

train: install
	@$(NMT) train --config $(or $(CONFIG),configs/default.yaml) $(ARGS)

# WORKERS local worker processes on 127.0.0.1 (MultiWorkerMirroredStrategy), started again up to RESTARTS
# times after a preemption or a lost worker; docs/distributed.md: several machines
train-distributed: install
	@$(NMT) train-distributed --workers $(or $(WORKERS),2) $(if $(RESTARTS),--restarts $(RESTARTS)) --config $(or $(CONFIG),configs/default.yaml) $(ARGS)

translate: install
	@$(NMT) translate --config $(or $(CONFIG),configs/default.yaml) $(if $(INPUT),--input $(INPUT)) $(if $(OUTPUT),--output $(OUTPUT)) $(if $(BEAM),--beam $(BEAM)) $(if $(NBEST),--nbest $(NBEST)) $(if $(SCORES),--scores) $(if $(PREFIX),--prefix-file $(PREFIX)) $(if $(PO),--po $(PO)) $(if $(WEIGHTS),--weights $(WEIGHTS)) $(foreach r,$(RUNS),--run $(r)) $(ARGS)

# an HTTP server on HOST:PORT (default 127.0.0.1:8080): JSON API, TF Serving's predict, a web page at /
serve: install
	@$(NMT) serve --config $(or $(CONFIG),configs/default.yaml) $(if $(PORT),--port $(PORT)) $(if $(HOST),--host $(HOST)) $(if $(WEIGHTS),--weights $(WEIGHTS)) $(ARGS)

# the log-probability of each SOURCE/TARGET line pair under the model (forced decoding)
score: install
	@$(NMT) score --config $(or $(CONFIG),configs/default.yaml) --source $(SOURCE) --target $(TARGET) $(if $(OUTPUT),--output $(OUTPUT)) $(if $(WEIGHTS),--weights $(WEIGHTS)) $(ARGS)

evaluate: install
	@$(NMT) evaluate --config $(or $(CONFIG),configs/default.yaml) $(if $(WEIGHTS),--weights $(WEIGHTS)) $(ARGS)

# the mean of the last LAST training checkpoints (default 5), for WEIGHTS=averaged
average: install
	@$(NMT) average --config $(or $(CONFIG),configs/default.yaml) $(if $(LAST),--last $(LAST)) $(ARGS)

# a self-contained SavedModel in runs/<name>/export/<version>/ (or OUTPUT/<version>/)
export: install
	@$(NMT) export --config $(or $(CONFIG),configs/default.yaml) $(if $(BEAM),--beam $(BEAM)) $(if $(WEIGHTS),--weights $(WEIGHTS)) $(if $(OUTPUT),--output $(OUTPUT)) $(ARGS)

data: install
	@$(NMT) prepare --config $(or $(CONFIG),configs/default.yaml) $(if $(CORPUS),--corpus $(CORPUS)) $(ARGS)

bench: install
	@$(VENV)/bin/python benchmarks/bench.py --config $(or $(CONFIG),configs/bench.yaml) $(ARGS)

# JoeyNMT 2.3 on CPU PyTorch, in its own venv: only for `make bench-peer`, never for tests.
.venv-peer/.installed:
	@test -x .venv-peer/bin/python || $(PYTHON) -m venv .venv-peer >&2
	@.venv-peer/bin/python -m pip install --quiet torch==2.13.0 joeynmt==2.3.0 importlib_metadata >&2
	@touch $@

bench-peer: install .venv-peer/.installed
	@$(VENV)/bin/python benchmarks/bench_peer.py --config $(or $(CONFIG),configs/bench.yaml) $(ARGS)

# trained models' decoding, ours against JoeyNMT: both train STEPS updates on the same batches,
# then translate the test set (greedy and beam 5, batch 1 and 64); sentences/s and BLEU
STEPS ?= 500
decode-peer: install .venv-peer/.installed
	@$(VENV)/bin/python benchmarks/decode_peer.py --config $(or $(CONFIG),configs/bench.yaml) --steps $(STEPS) $(ARGS)

# placeholders, markup and access keys through translation, with and without decode.protect:
# held-out UI catalog lines of the cached Debian packages (make data) and the run's test sets
protection: install
	@$(VENV)/bin/python benchmarks/protect_eval.py --run $(or $(RUN),runs/debian-de-en) $(ARGS)

# glossary terms through translation, without and with a glossary drawn from the Ding dictionary:
# the run's held-out test sentences that hold its terms
glossary: install
	@$(VENV)/bin/python benchmarks/glossary_eval.py --run $(or $(RUN),runs/debian-de-en) $(ARGS)

# a real German catalog (benchmarks/data) emptied and filled by `nmt translate --po` with an
# English-to-German run: msgfmt --check-format, fuzzy flags, untouched lines, BLEU against its translators
catalog: install
	@$(VENV)/bin/python benchmarks/catalog_eval.py --run $(or $(RUN),runs/debian-en-de) $(ARGS)

# decode.protect on and off (docs/usage.md#placeholders-markup-and-access-keys): it decides whether the
# model trains on protected text as well as whether lines are protected when translated. The default
# cell on two corpora, SEEDS each, PROTECT_STEPS updates; reports in docs/protect-default/<config>/.
PROTECT_STEPS ?= 400
protect-default: install
	@for config in configs/default.yaml configs/debian-fr-en.yaml; do \
		$(NMT) compare --config $$config --seeds $(SEEDS) --output docs/protect-default/$$(basename $$config .yaml) \
			--vary decode.protect=true,false train.max_steps=$(PROTECT_STEPS) train.max_minutes=null \
			train.max_epochs=1000 train.validate_every=200 train.patience=null $(ARGS) || exit 1; \
	done

compare: install
	@$(NMT) compare --config $(or $(CONFIG),configs/compare.yaml) --vary "$(VARY)" $(ARGS)

# The robustness matrix (docs/training.md): every cell on debian-de-en (configs/default.yaml) and
# the default cell on three more corpora, seeds 1 and 2, MINUTES of training each; docs/matrix/.
MINUTES ?= 5
matrix: install
	@$(NMT) compare --config configs/default.yaml --seeds 1,2 --output docs/matrix \
		--vary model.cell=lstm,peephole,cifg,gru \
		--vary config=configs/ding-de-en.yaml,configs/debian-fr-en.yaml,configs/bible-en-es.yaml \
		train.max_minutes=$(MINUTES) train.max_epochs=1000 train.validate_every=100 train.patience=null $(ARGS)

# Training recipes for the small shipped corpus (docs/training.md#small-corpora):
# the quick ding-de-en config against regularised variants, SEEDS each, RECIPE_MINUTES of training each.
RECIPE_MINUTES ?= 12
SEEDS ?= 1,2
recipes: install
	@$(NMT) compare --config configs/ding-de-en.yaml --seeds $(SEEDS) --output docs/recipes-ding \
		--variant "base:" --variant "lstm: model.cell=lstm" --variant "gru: model.cell=gru" \
		--variant "reg: model.dropout=0.5 train.label_smoothing=0.1" \
		--variant "reg-cosine: model.dropout=0.5 train.label_smoothing=0.1 train.schedule=cosine" \
		--variant "reg-cosine-vocab2k: model.dropout=0.5 train.label_smoothing=0.1 train.schedule=cosine tokenizer.vocab_size=2000" \
		--variant "reg-input-feeding: model.dropout=0.5 train.label_smoothing=0.1 model.input_feeding=true" \
		--variant "reg-batch1k: model.dropout=0.5 train.label_smoothing=0.1 train.batch_tokens=1024" \
		--variant "reg-word-dropout: model.dropout=0.5 train.label_smoothing=0.1 model.word_dropout=0.1" \
		train.max_minutes=$(RECIPE_MINUTES) train.max_epochs=1000 train.validate_every=100 train.patience=null $(ARGS)

# bfloat16 against float32 (docs/training.md#bfloat16-or-float32): the default cell on two
# corpora, SEEDS each, PRECISION_STEPS updates; reports in docs/precision/<config>/. With
# PRECISION_MINUTES=M each run trains M minutes instead (runs and reports named <config>-Mmin).
PRECISION_STEPS ?= 400
PRECISION_MINUTES ?=
precision: install
	@for config in configs/ding-de-en.yaml configs/default.yaml; do \
		report=$$(basename $$config .yaml); budget="train.max_steps=$(PRECISION_STEPS) train.max_minutes=null"; \
		if [ -n "$(PRECISION_MINUTES)" ]; then report=$$report-$(PRECISION_MINUTES)min; \
			budget="train.max_steps=null train.max_minutes=$(PRECISION_MINUTES) name=precision-$$report"; fi; \
		$(NMT) compare --config $$config --seeds $(SEEDS) --output docs/precision/$$report \
			--vary train.precision=float32,bfloat16 \
			$$budget train.max_epochs=1000 train.validate_every=100 train.patience=null $(ARGS) || exit 1; \
	done

# How configs/default.yaml was chosen (docs/training.md#the-default-recipe): its batch size, Ding's
# phrases added to its corpus, dropout, output size, vocabulary, schedule and rate, DEFAULTS_MINUTES
# of training per run, SEEDS each; the
# report, per kind of text, in docs/defaults/ (finished runs are reused, not retrained).
DEFAULTS_MINUTES ?= 15
defaults: install
	@$(NMT) compare --config configs/default.yaml --seeds $(SEEDS) --output docs/defaults \
		--variant "batch2k: train.batch_tokens=2048" --variant "batch4k:" \
		--variant "batch8k: train.batch_tokens=8192" \
		--variant "phrases: data.corpus=debian-de-en-phrases data.train=data/debian-de-en-phrases/train" \
		--variant "dropout1: model.dropout=0.1" \
		--variant "tied256: model.attention_units=256 model.tie_embeddings=true" \
		--variant "vocab4k: tokenizer.vocab_size=4000" \
		--variant "cosine: train.schedule=cosine" \
		--variant "cosine-lr5: train.schedule=cosine train.learning_rate=0.005 train.warmup_steps=100" \
		--variant "lr5: train.learning_rate=0.005 train.warmup_steps=100" \
		train.max_minutes=$(DEFAULTS_MINUTES) $(ARGS)

# docs/configuration.md from nmt/config.py and configs/default.yaml (a test checks it is current)
docs: install
	@$(VENV)/bin/python tools/config_doc.py

# ruff: lint rules and import order (pyproject.toml); make test runs it first
lint: install
	@$(VENV)/bin/ruff check nmt data_prep tests tools benchmarks

# docs/results.md from the reports of RUNS (run directories), COMPARES and BENCHES (directories)
results: install
	@$(VENV)/bin/python tools/results_page.py $(foreach r,$(RUNS),--run $(r)) $(foreach c,$(COMPARES),--compare $(c)) $(foreach b,$(BENCHES),--bench $(b))

# the tests run in TEST_WORKERS processes (pytest-xdist; auto: one per CPU), each test wherever a
# process is free
TEST_WORKERS ?= auto
test: lint
	@$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# the edit-test loop: everything except the tests marked slow (CI runs the full make test)
test-fast: lint
	@$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) -m "not slow" $(PYTEST_ARGS)

clean:
	rm -rf runs
