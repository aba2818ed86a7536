"""YAML reading with line tracking, validation, and the stretch, routine and pack types."""
