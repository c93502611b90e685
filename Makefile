# Live-shopping lakehouse. `make help` lists the targets.
PY := .venv/bin/python
PYTEST_ARGS ?=
DASHBOARD_PORT ?= 8501

.PHONY: help setup demo test test-quick test-chaos lint format broker-start broker-stop pipeline validate dashboard clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

setup:  ## install pinned Python packages into .venv and the jars into .cache/jars
	bash scripts/setup.sh

demo:  ## everything: broker, REES46 replay, simulator, pipeline, dashboard on 127.0.0.1:8501
	bash scripts/demo.sh

test: setup  ## the whole test suite but the chaos test (starts its own Kafka broker and Spark)
	$(PY) -m pytest -m "not chaos" $(PYTEST_ARGS)

test-quick: setup  ## unit and dashboard tests only, without the slow end-to-end ones
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-chaos: setup  ## SIGKILL the pipeline 10 times over 200,000 events, restart the broker, check every layer
	$(PY) -m pytest -m chaos -s $(PYTEST_ARGS)

lint: setup  ## ruff lint and format check
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: setup  ## ruff fix and format
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

broker-start: setup  ## start the embedded Kafka broker (var/kafka)
	$(PY) -m lakehouse.broker start

broker-stop:  ## stop the embedded Kafka broker
	$(PY) -m lakehouse.broker stop

pipeline: setup  ## run every layer live in one Spark application (Ctrl-C to stop)
	scripts/submit.sh jobs/pipeline.py --trigger processing_time

validate: setup  ## run every data-quality suite over the whole tables; GE data docs in var/lakehouse/_quality
	scripts/submit.sh jobs/validate.py

dashboard: setup  ## serve the dashboard on 127.0.0.1:$DASHBOARD_PORT (default 8501)
	$(PY) -m streamlit run dashboard/app.py --server.address 127.0.0.1 \
		--server.port $(DASHBOARD_PORT) --server.headless true --browser.gatherUsageStats false

clean: broker-stop  ## delete the local tables, checkpoints and broker data (var/)
	rm -rf var

.PHONY: setup-s3a test-cluster image compose-config bench

setup-s3a:  ## setup, plus the S3A jars (about 600 MB) for s3a:// tables
	bash scripts/setup.sh --s3a

test-cluster: setup  ## the deployment tests: compose file, Kafka security, a standalone Spark cluster
	$(PY) -m pytest tests/test_compose.py tests/test_kafka_options.py \
		tests/test_standalone_cluster.py $(PYTEST_ARGS)

image:  ## build the application image of docker-compose.yml (needs a Docker engine)
	docker compose build

compose-config:  ## print docker-compose.yml as compose reads it, with .env.example's values
	docker compose --env-file .env.example config

bench: setup  ## the benchmark suite (about an hour): rates, latency, CPU per event, DuckDB, dashboard, GBT
	$(PY) -m bench.run $(BENCH_ARGS)
