// Decides whether a commit message asks Slipway not to build: `[skip ci]`, `[ci skip]`,
// `[skip deploy]` or `[deploy skip]` anywhere in it, in any case. Pure.
const markers = /\[(skip ci|ci skip|skip deploy|deploy skip|no ci)\]/i;

export function skipReasonForMessage(message: string | null | undefined): string | null {
  const match = message ? markers.exec(message) : null;
  return match ? `the head commit's message contains \`${match[0]}\`` : null;
}
