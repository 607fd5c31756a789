"""Peer servers for `bench.peers`, run inside the peers' own venv (LitServe, BentoML)."""
