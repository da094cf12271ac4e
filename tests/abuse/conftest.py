from tests.whatsapp.conftest import demo, start_app, wa_settings  # noqa: F401 (fixtures)
