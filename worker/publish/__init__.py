"""What is published from an alignment: subtitle cues and the output formats, each verified word for word."""
