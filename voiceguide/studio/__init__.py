"""The server on the home network: built packs, and the studio that makes sessions from a phone."""
