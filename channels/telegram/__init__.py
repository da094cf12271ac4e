"""The manager desk in Telegram (PRODUCT.md §5): one aiogram bot per client, request cards and
topics (outbox sender), buttons and the manager-to-customer relay (update handlers), polling or
webhook intake. Domain rules live in `core.desk` and `core.relay`; this package only adapts."""
