"""What a request is and what happens to it: spec, validation, admission, runner, queries."""
