"""Knowledge base articles, answer suggestions and the database side of the classifier life
cycle."""
