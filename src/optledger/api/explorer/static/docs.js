// Starts Swagger UI on the page's #swagger-ui element, for the OpenAPI document named by
// its data-openapi-url attribute. A file of its own, so the page needs no inline script.
"use strict";
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    domNode: root,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    displayOperationId: true,
    showExtensions: true,
    // No call to the public validator service: everything stays on this origin.
    validatorUrl: null,
    // The key typed into "Authorize" is kept in memory only, never in localStorage.
    persistAuthorization: false
  });
});
