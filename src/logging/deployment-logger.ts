// Owns how a log line names a deployment: by its function, version and repository (what an
// operator searches for), with the deployment's id for joining with the API.
import type { Logger } from "pino";

export type DeploymentNames = { deploymentId: string; functionName: string; version: number; owner: string; repo: string };

export function deploymentLogger(log: Logger, deployment: DeploymentNames): Logger {
  return log.child({ function: deployment.functionName, version: `v${deployment.version}`, repository: `${deployment.owner}/${deployment.repo}`, deploymentId: deployment.deploymentId });
}
