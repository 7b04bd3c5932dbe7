"""One module per aggregate: keyword-only functions that read and flush, never commit."""
