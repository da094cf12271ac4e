"""The desk's update handlers, as aiogram routers split by direction: `commands` (the desk's
commands: /find, /bot, /t, /stats), `buttons` (manager → desk: card buttons, [📚 В базу], the
take-over's buttons), `manager_to_customer` (a manager's message in a customer's topic), and
`service` (other commands and service messages, which are not for the customer)."""
