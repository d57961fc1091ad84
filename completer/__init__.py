"""Diffusion-LLM code completion engine."""
