"""Board profiles, detection and deployment onto devices."""
