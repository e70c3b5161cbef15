// Owns the start-up banner: every address this process serves (dashboard, webhook, API,
// function URLs) and the one next step for a new installation. Pure; main.ts writes it to
// stderr, so the JSON log stream on stdout stays one object a line.
import type { FirstHourProgress } from "../store/first-hour-progress.js";
import { nextStep } from "./next-step.js";

export type BannerInput = {
  version: string;
  role: string;
  /** The app's public URL, when this process runs the app role. */
  appUrl?: string | undefined;
  webhookProxyUrl?: string | undefined;
  /** Base of function URLs, when this process runs the gateway role. */
  publicUrl?: string | undefined;
  progress?: FirstHourProgress | undefined;
};

export function renderStartBanner(input: BannerInput): string {
  const rows: [string, string][] = [];
  if (input.appUrl) {
    rows.push(["dashboard", `${input.appUrl}/dashboard`]);
    rows.push(["webhook", input.webhookProxyUrl ? `${input.webhookProxyUrl} (relayed to ${input.appUrl}/api/github/webhooks)` : `${input.appUrl}/api/github/webhooks`]);
    rows.push(["API", `${input.appUrl}/v1 (described at ${input.appUrl}/v1/openapi.json)`]);
    rows.push(["health", `${input.appUrl}/healthz, ${input.appUrl}/readyz`]);
  }
  if (input.publicUrl) rows.push(["functions", `${input.publicUrl}/fn/<function>~<repo>~<owner>/`]);
  const width = Math.max(...rows.map(([label]) => label.length));
  const lines = [`Slipway ${input.version} is running (${input.role})`, ...rows.map(([label, url]) => `  ${label.padEnd(width)}  ${url}`)];
  if (input.progress && input.appUrl) lines.push(`  next: ${nextStep(input.progress, input.appUrl)}`);
  return `\n${lines.join("\n")}\n\n`;
}
