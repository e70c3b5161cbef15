// Decides the APPWRITE_FUNCTION_* environment a runtime container of a function deployed
// from appwrite.json starts with, as Appwrite's own runtimes set it. Pure. The function's
// API key is not here: it is short-lived, so it comes with each call as the x-appwrite-key
// header, as in Appwrite 1.6. A function configured by slipway.yml gets none of these.
import type { AppwriteIdentity } from "../store/deployment-settings.js";

const runtimeNames: Record<string, string> = { node: "Node.js", python: "Python", rust: "Rust", deno: "Deno", bun: "Bun", go: "Go", php: "PHP", ruby: "Ruby", dart: "Dart", java: "Java", kotlin: "Kotlin", swift: "Swift", dotnet: ".NET", cpp: "C++" };

export function appwriteFunctionEnvironment(input: {
  identity: AppwriteIdentity;
  deploymentId: string;
  /** The Slipway runtime that serves it (node-20). */
  runtime: string;
  projectId: string | undefined;
  apiEndpoint: string;
  apiVersion: string;
  cpus: number;
  memoryMb: number;
}): string[] {
  const [language = "", version = ""] = input.runtime.split(/-(.*)/s);
  return [
    `APPWRITE_FUNCTION_ID=${input.identity.functionId}`,
    `APPWRITE_FUNCTION_NAME=${input.identity.name}`,
    `APPWRITE_FUNCTION_DEPLOYMENT=${input.deploymentId}`,
    `APPWRITE_FUNCTION_PROJECT_ID=${input.projectId ?? input.identity.projectId ?? ""}`,
    `APPWRITE_FUNCTION_RUNTIME_NAME=${runtimeNames[language] ?? language}`,
    `APPWRITE_FUNCTION_RUNTIME_VERSION=${version}`,
    `APPWRITE_FUNCTION_API_ENDPOINT=${input.apiEndpoint}`,
    `APPWRITE_VERSION=${input.apiVersion}`,
    `APPWRITE_FUNCTION_CPUS=${input.cpus}`,
    `APPWRITE_FUNCTION_MEMORY=${input.memoryMb}`,
  ];
}
