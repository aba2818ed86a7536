"""Sound: dsp, the PCM stream, MP3 encoding, tags and chapters, and `render`."""
