"""Pixel work and URL inputs."""
