"""The knowledge base: the team's documents, indexed by the operator and retrieved into answers.

`documents` reads a file into sections (text under a heading path, or on a page), `chunks` cuts
them into passages along paragraphs and sentences, `index` writes and reads the one index file,
`__main__` is the operator's command (`python -m coda.knowledge index DIR --out FILE`). It knows
the embedding port (`coda.llm.EmbeddingModel`), never an adapter: the command's composition is in
`coda.infrastructure.bootstrap`, as the app's is.
"""
