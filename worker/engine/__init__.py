"""The alignment engine: audio + corrected text → timed words that carry the text exactly.

`alignment.Aligner` is the one entry point (the queue loop, the local CLI, batch mode and the benchmark
all use it); the other modules are its parts: model loading, pause detection, windowing, refinement,
and the mapping back onto the text's own words.
"""
