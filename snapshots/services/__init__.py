"""The write side of the library: one module per capability, plain functions with keyword arguments."""
