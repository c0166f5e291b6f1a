// Starts Swagger UI on /docs (an external script: the pages allow no inline script). The
// document is named relative to the page, so that it is found under a proxy's path prefix.
window.addEventListener("DOMContentLoaded", function () {
  window.SwaggerUIBundle({ url: "openapi.json", dom_id: "#swagger-ui", validatorUrl: null });
});
