"""coda: chat in the browser with a self-hosted Japanese language model."""
