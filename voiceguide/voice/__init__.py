"""Speech: engines behind one protocol, worker processes, the clip cache and clip leveling."""
