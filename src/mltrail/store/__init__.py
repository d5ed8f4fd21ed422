"""Stores: where tracking and registry data live (SQL embedded or server, or REST)."""
