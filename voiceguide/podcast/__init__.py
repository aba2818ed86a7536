"""Podcast packs: pack files, build, feed, page, cover and the LAN server."""
