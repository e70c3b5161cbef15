// Owns serving the console: its static files, read once, sent with a strict content security
// policy. The pages are clients of the REST API (src/dashboard/static/*.js) and of the
// sign-in routes (src/console/); `/` leads to the dashboard, `/deployments/<id>` is a
// deployment's page, where check runs and pull-request comments link, and `/executions/<id>`
// an execution's, linked from the dashboard's executions list.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import type { IncomingMessage, ServerResponse } from "node:http";

const folder = new URL("./static/", import.meta.url);
// Chart.js, the console's charting library, served from its package as it is published.
const chartJs = new URL("chart.umd.min.js", pathToFileURL(createRequire(import.meta.url).resolve("chart.js")));

const files = new Map(
  [
    ["/dashboard", "index.html", "text/html; charset=utf-8"],
    ["/dashboard/dashboard.js", "dashboard.js", "text/javascript; charset=utf-8"],
    ["/dashboard/dashboard.css", "dashboard.css", "text/css; charset=utf-8"],
    ["/dashboard/console.js", "console.js", "text/javascript; charset=utf-8"],
    ["/dashboard/deployment.js", "deployment.js", "text/javascript; charset=utf-8"],
    ["/deployments/:id", "deployment.html", "text/html; charset=utf-8"],
    ["/dashboard/execution.js", "execution.js", "text/javascript; charset=utf-8"],
    ["/executions/:id", "execution.html", "text/html; charset=utf-8"],
    ["/dashboard/vendor/chart.umd.min.js", chartJs.href, "text/javascript; charset=utf-8"],
  ].map(([path, file, type]) => [path!, { body: readFileSync(new URL(file!, folder)), type: type! }]),
);

const securityHeaders = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};

/** Answers the dashboard's requests; false for any other request. */
export function serveDashboard(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method !== "GET" && req.method !== "HEAD") return false;
  const path = (req.url ?? "/").split("?")[0]!;
  if (path === "/" || path === "/dashboard/") {
    res.writeHead(302, { location: "/dashboard" }).end();
    return true;
  }
  const page = /^\/(deployments|executions)\/[0-9a-f-]{36}$/.exec(path);
  const file = files.get(page ? `/${page[1]}/:id` : path);
  if (!file) return false;
  res.writeHead(200, { ...securityHeaders, "content-type": file.type, "content-length": file.body.length });
  res.end(req.method === "HEAD" ? undefined : file.body);
  return true;
}
