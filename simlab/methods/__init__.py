"""Built-in similarity methods, one module per family; importing one registers it."""
