"""Loss demos: the loss engine, input parsing, concept pages and their API."""
