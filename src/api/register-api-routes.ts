// The one place where the app's REST API is assembled: each feature adds its routes here.
import type { ApiRouter } from "./create-api-router.js";
import { registerConsoleExecutionRoutes } from "./console-execution-routes.js";
import { registerDeploymentActionRoutes } from "./deployment-action-routes.js";
import { registerDeploymentRoutes } from "./deployment-routes.js";
import type { AppDependencies } from "../app/start-app.js";
import { documentSignInRoutes } from "../console/document-sign-in-routes.js";
import { createRepositoryAccess } from "../console/repository-access.js";
import { registerInfoRoutes } from "./info-routes.js";
import { registerUploadRoutes } from "./upload-routes.js";
import { registerVariableRoutes } from "./variable-routes.js";

/** Adds the routes; `close` ends the console's open event streams when the app stops. */
export function registerApiRoutes(api: ApiRouter, deps: AppDependencies): { close(): Promise<void> } {
  registerInfoRoutes(api, deps);
  const access = createRepositoryAccess(deps);
  registerDeploymentRoutes(api, deps, access);
  registerDeploymentActionRoutes(api, deps, access);
  registerVariableRoutes(api, deps, access);
  const consoleExecutions = registerConsoleExecutionRoutes(api, deps, access);
  registerUploadRoutes(api, deps);
  documentSignInRoutes(api);
  return consoleExecutions;
}
