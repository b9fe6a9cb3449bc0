"""Portal tests run on Django's test database (SQLite, or PostgreSQL when DATABASE_URL is set)."""
