"""Builders and references shared by the test folders (not tests themselves)."""
