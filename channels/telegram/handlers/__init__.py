"""The desk's update handlers, as aiogram routers split by direction: `buttons` (manager → desk:
card buttons and [📚 В базу]), `manager_to_customer` (a manager's message in a customer's topic),
and `service` (commands and service messages, which are not for the customer)."""
