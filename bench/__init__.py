"""hotline's load harness: `python -m bench --help`, or `./scripts/bench` for every scenario."""
