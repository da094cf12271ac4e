"""Plain-SQL repositories, one module per aggregate. Each takes an asyncpg connection (or pool)."""
