"""A job's inputs: decoding the audio and the corrected transcript, refusing what cannot be used."""
