"""Jobs that move a flight's imagery through ingest → detect → compare → ticket."""
