"""Staff and installation: users and departments, the org chart, API keys, backups."""
