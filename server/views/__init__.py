"""Thin handlers: parse → authorize → call a service → render or JSON."""
