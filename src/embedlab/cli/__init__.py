"""The `embedlab` command line."""
