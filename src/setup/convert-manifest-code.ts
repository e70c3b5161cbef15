// Owns the manifest flow's exchange: the code GitHub hands the browser becomes the new app's
// id, private key, webhook secret and OAuth client (POST /app-manifests/{code}/conversions,
// no authentication; the code is good for one hour, once).
import { request } from "undici";

export type ConvertedApp = {
  id: number;
  slug: string;
  name: string;
  html_url: string;
  client_id: string;
  client_secret: string;
  webhook_secret: string | null;
  pem: string;
  owner?: { login?: string } | null;
};

export async function convertManifestCode(apiUrl: string, code: string): Promise<ConvertedApp> {
  const response = await request(`${apiUrl}/app-manifests/${encodeURIComponent(code)}/conversions`, {
    method: "POST",
    headers: { accept: "application/vnd.github+json", "user-agent": "slipway", "x-github-api-version": "2022-11-28" },
  });
  const text = await response.body.text();
  if (response.statusCode !== 201) {
    let message = text.slice(0, 200);
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? message;
    } catch {}
    throw new Error(
      response.statusCode === 404
        ? "GitHub did not know that code: it is good for one hour and only once; register the app again from this page"
        : `GitHub answered ${response.statusCode} to the app's conversion at ${apiUrl}: ${message}`,
    );
  }
  const app = JSON.parse(text) as ConvertedApp;
  if (!app.id || !app.pem || !app.webhook_secret) throw new Error("GitHub's answer lacked the app id, private key or webhook secret");
  return app;
}
