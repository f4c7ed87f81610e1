"""All state changes. Each public function is the one write path for its change; the API, the
JSON-RPC endpoint, the UI, the admin, jobs and management commands all call these."""
