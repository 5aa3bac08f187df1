"""Reading what a page posts: a turn, its settings, a saved or exported conversation, and the
low-level rules of posted text and JSON they share. Nothing here streams or renders."""
