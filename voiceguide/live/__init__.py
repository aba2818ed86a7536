"""Live narration: clock, sound sinks, displays, keys and the scheduler."""
