"""The three image operations end to end, and the server as a process."""
