// Owns the one next step the start-up banner suggests, from how far the installation has come.
import type { FirstHourProgress } from "../store/first-hour-progress.js";

export function nextStep(progress: FirstHourProgress, appUrl: string): string {
  if (progress.tokens === 0) return `create an API token: \`slipway token create --name <you>\`, then \`slipway login --api-url ${appUrl}\``;
  if (progress.repositories === 0) return "install the GitHub App on a repository (the link is on the app's GitHub page: Install App), then push a slipway.yml (README: Quick start)";
  if (progress.deployments === 0) return "push a slipway.yml to an installed repository (README: Quick start); its check run shows the function's URL";
  return "push to deploy; `slipway functions ls` lists what serves";
}
