"""The composition root: builds settings, logging and the adapter, and hands them to the app."""
