"""Streaming one answer: the turn as Server-Sent Events, the reader of the model's answer beside
the request, work beside the request (greenlets), hang-ups and the shutdown drain."""
