// Decides whether a variable name is allowed: an environment variable name that does not
// shadow what the runtime contract or Slipway itself sets.
export function checkVariableName(name: string): string | null {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(name)) return `'${name}' is not a valid variable name: use letters, digits and '_', not starting with a digit (at most 128)`;
  if (/^(OPEN_RUNTIMES_|SLIPWAY_)/i.test(name)) return `'${name}' is reserved: names starting with OPEN_RUNTIMES_ or SLIPWAY_ are set by Slipway`;
  return null;
}
