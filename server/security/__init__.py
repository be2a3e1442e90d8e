"""Security pieces: passwords, sessions, CSRF, headers, throttling."""
