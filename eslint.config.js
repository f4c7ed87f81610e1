// ESLint (flat config) for Arbor's page scripts: ES modules in the browser, plus the classic
// theme.js (loaded in <head> before the first paint) and the node unit tests.
import js from "@eslint/js";
import globals from "globals";

export default [
  {
    ignores: [
      "static/tasks_app/vendor/**",
      "staticfiles/**",
      "node_modules/**",
      ".venv/**",
      "tests/artifacts/**",
      "var/**",
      ".tmp/**",
    ],
  },
  js.configs.recommended,
  {
    files: ["static/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: { ...globals.browser },
    },
    rules: {
      "no-unused-vars": ["error", { args: "none", caughtErrors: "none" }],
      "no-implicit-globals": "error",
      eqeqeq: ["error", "smart"],
      "prefer-const": "error",
      "no-var": "error",
    },
  },
  {
    files: ["static/tasks_app/js/theme.js", "static/admin/**/*.js"],
    languageOptions: { sourceType: "script" },
  },
  {
    files: ["static/tasks_app/js/layout-worker.js"],
    languageOptions: { globals: { ...globals.worker } },
  },
  {
    files: ["static/tasks_app/js/tests/**/*.js", "eslint.config.js", "stylelint.config.js"],
    languageOptions: { globals: { ...globals.node } },
  },
];
