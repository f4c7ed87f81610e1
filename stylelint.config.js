// Stylelint for static/tasks_app/css: the standard config, less the rules that would rename Arbor's
// custom properties and classes (--st-in_progress mirrors the API's status names), reorder rules
// whose cascade order matters, or require syntax older browsers lack (range media queries).
export default {
  extends: ["stylelint-config-standard"],
  ignoreFiles: ["static/tasks_app/vendor/**", "staticfiles/**"],
  rules: {
    "custom-property-pattern": null,
    "selector-class-pattern": null,
    "no-descending-specificity": null,
    "media-feature-range-notation": "prefix",
    "color-function-notation": null,
    "alpha-value-notation": null,
    // font family names in custom properties (--font, --mono) keep their spelling
    "value-keyword-case": ["lower", { ignoreProperties: ["/^--/"] }],
  },
};
