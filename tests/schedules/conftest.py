# the browser test reuses the UI suite's server, workers and logged-in page
from tests.ui.conftest import arbor_server, browser_context_args, user_page, workers  # noqa: F401
