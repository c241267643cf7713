"""What several test layers share: record builders, seeders and stand-in sources (tests/README.md)."""
