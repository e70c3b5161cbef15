/**
 * Deterministic numeric id for an account login (FNV-1a over the lower-cased login), so the
 * emulator and the standalone webhook payload builders agree on ids without sharing state.
 * Ids fall in 10_000_000 … 99_999_999, clear of the small sequential ids used for other objects.
 */
export function userIdFor(login: string): number {
  let hash = 0x811c9dc5;
  for (const char of login.toLowerCase()) {
    hash ^= char.codePointAt(0) ?? 0;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return 10_000_000 + (hash % 90_000_000);
}
