// What a client needs to find its way: Slipway's version, where the executions API (the
// gateway, behind SLIPWAY_PUBLIC_URL) and the dashboard are, and, when a token is sent,
// whose it is. The CLI reads it to reach the gateway and to check a token at `slipway login`.
import type { AppDependencies } from "../app/start-app.js";
import { slipwayVersion } from "../config/slipway-version.js";
import type { ApiRouter } from "./create-api-router.js";

export function registerInfoRoutes(api: ApiRouter, deps: Pick<AppDependencies, "config">): void {
  api.route({
    method: "GET",
    path: "/v1/info",
    summary: "Slipway's version, the executions API's and the dashboard's URLs, and the token's name and kind (when one is sent)",
    tags: ["info"],
    auth: "custom",
    handler: async ({ principal }) => ({
      name: "slipway",
      version: slipwayVersion(),
      apiUrl: deps.config.appUrl,
      dashboardUrl: `${deps.config.appUrl}/`,
      executionsUrl: deps.config.publicUrl,
      functionsUrl: deps.config.publicUrl,
      token: principal ? { name: principal.name, kind: principal.kind } : null,
    }),
  });
}
