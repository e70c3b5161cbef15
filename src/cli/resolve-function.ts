// Owns how a person names a function on the command line: its UUID, its slug (as in its
// URL), its `id` from slipway.yml when only one repository has it, `repo/id` or
// `owner/repo/id`. Owners and repositories are matched without regard to case, as GitHub does.
import { CliError, exitCodes } from "./cli-error.js";

export type NamedFunction = { id: string; name: string; slug: string; owner: string; repo: string };

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function fullFunctionName(fn: NamedFunction): string {
  return `${fn.owner}/${fn.repo}/${fn.name}`;
}

function candidatesFor(functions: NamedFunction[], name: string): NamedFunction[] {
  if (uuidPattern.test(name)) return functions.filter((f) => f.id.toLowerCase() === name.toLowerCase());
  const bySlug = functions.filter((f) => f.slug === name);
  if (bySlug.length > 0) return bySlug;
  const parts = name.split("/");
  const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
  if (parts.length === 3) return functions.filter((f) => same(f.owner, parts[0]!) && same(f.repo, parts[1]!) && f.name === parts[2]);
  if (parts.length === 2) return functions.filter((f) => same(f.repo, parts[0]!) && f.name === parts[1]);
  if (parts.length === 1) return functions.filter((f) => f.name === name);
  return [];
}

/** The one function `name` stands for, or an error that says what was meant or what exists. */
export function resolveFunction<T extends NamedFunction>(functions: T[], name: string): T {
  const found = candidatesFor(functions, name.trim()) as T[];
  if (found.length === 1) return found[0]!;
  if (found.length > 1) {
    const listed = found.map((f) => `  ${fullFunctionName(f)}`).sort().join("\n");
    throw new CliError(`'${name}' names ${found.length} functions; say which with owner/repo/id:\n${listed}`, exitCodes.usage);
  }
  if (functions.length === 0) throw new CliError(`no function '${name}': Slipway has no functions yet (push a slipway.yml to a repository where the app is installed)`);
  const known = functions.slice(0, 10).map((f) => `  ${fullFunctionName(f)}`).join("\n");
  const more = functions.length > 10 ? `\n  … and ${functions.length - 10} more (\`slipway functions ls\`)` : "";
  throw new CliError(`no function '${name}'; name one by id, repo/id, owner/repo/id, slug or UUID:\n${known}${more}`);
}
