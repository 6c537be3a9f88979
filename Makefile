.PHONY: run test bench lint unit
run:
	./scripts/run
test:
	./scripts/test
bench:
	./scripts/bench
# ruff's lint and import order (pyproject.toml), as ./scripts/test runs it before the tests
lint:
	./scripts/test --lint
# the tests that need no Redis, no server process and no browser (SQLite, in-process stand-ins)
unit:
	./scripts/test --unit -q
