"""Rendering what people read: the bubbles' partials and the model's Markdown as safe HTML, within
a time budget."""
