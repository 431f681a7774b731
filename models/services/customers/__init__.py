"""The customer registry: find-or-create, masked and encrypted contacts, audited reveal, levels."""
