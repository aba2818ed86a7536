"""Live narration: walk a timed script in real time, with sound, a display and keys.

The parts, lowest first (each imports only those above it):

- :mod:`~voiceguide.live.names`: the backends by name, for the command line;
- :mod:`~voiceguide.live.clock`: :class:`MonotonicClock` (sleeps, then busy-waits the last 2 ms)
  or :class:`FakeClock` for tests;
- :mod:`~voiceguide.live.sinks`: what every sound sink offers (:class:`AudioSink`), the silent
  one, and how they fail;
- :mod:`~voiceguide.live.stream`: one long-lived output stream per session, each sound mixed in
  at the sample it is due: a player process fed raw PCM (paplay, aplay) or a PortAudio stream
  (sounddevice);
- :mod:`~voiceguide.live.players`: players of prepared files per cue (afplay, winsound);
- :mod:`~voiceguide.live.backends`: :func:`open_sink` picks the first backend that plays here;
- :mod:`~voiceguide.live.guide`: stretch, side, set, hold countdown and breath phase, derived from
  the cues themselves;
- :mod:`~voiceguide.live.scheduler`: starts each cue at ``origin + cue.start_s / speed`` on the
  clock and obeys commands (pause, next, back, quit) posted by keys or a signal handler;
- :mod:`~voiceguide.live.display`: rich Live on a terminal (:class:`RichDisplay`), plain lines
  otherwise (:class:`PlainDisplay`);
- :mod:`~voiceguide.live.keys`: a :class:`KeyReader` thread that turns keys into commands;
- :mod:`~voiceguide.live.session`: :class:`LiveSession` puts them together and writes the events log.
"""
