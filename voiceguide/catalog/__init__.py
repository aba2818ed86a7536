"""The catalog of stretches and routines: YAML reading with line tracking, validation, and their types."""
