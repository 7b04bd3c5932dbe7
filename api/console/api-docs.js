// Swagger UI for the dockpatrol API. The OpenAPI document needs a bearer token like every other
// endpoint, so the page borrows the console's session token (same origin, same sessionStorage key).
const token = sessionStorage.getItem("dockpatrol.token");
if (!token) {
  document.getElementById("signin").hidden = false;
} else {
  // eslint-disable-next-line no-undef
  SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger",
    requestInterceptor: (request) => {
      request.headers.Authorization = `Bearer ${token}`;
      return request;
    },
  });
}
