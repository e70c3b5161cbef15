// Owns the variables that point a build's package managers at SLIPWAY_BUILD_PROXY: npm, pip,
// cargo, git and curl read one spelling or the other.
export function buildProxyEnvironment(proxy: string | undefined): string[] {
  if (!proxy) return [];
  return ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"].map((name) => `${name}=${proxy}`);
}
