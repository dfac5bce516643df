"""An executable model of KEDA 2.20.2's ScaledJob decision and a replay of queue scenarios under the
chart's rendered values and under the old Auto Scaling Group policy: `uv run python -m bench.scaling`."""
