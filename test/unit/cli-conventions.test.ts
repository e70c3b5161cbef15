// The command line's pure parts: how a function is named, exit statuses (0 done, 1 failed,
// 2 usage), --help on every command, where the login is kept and the completion scripts,
// which are run in a real bash (and zsh when the machine has it).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { test } from "node:test";
import type { Command } from "commander";
import { CliError } from "../../src/cli/cli-error.js";
import { cliConfigPath, loadCliSettings, saveLogin } from "../../src/cli/cli-settings.js";
import { resolveFunction, type NamedFunction } from "../../src/cli/resolve-function.js";
import { createProgram, runCli } from "../../src/cli/run-cli.js";

const run = promisify(execFile);

const fn = (owner: string, repo: string, name: string, id: string): NamedFunction => ({ id, name, slug: `${name}~${repo.toLowerCase()}~${owner.toLowerCase()}`, owner, repo });
const functions = [
  fn("acme", "app", "hello", "11111111-1111-4111-8111-111111111111"),
  fn("acme", "api", "hello", "22222222-2222-4222-8222-222222222222"),
  fn("Other", "Tools", "echo", "33333333-3333-4333-8333-333333333333"),
];

test("a function is named by its UUID, its slug, its id when unique, repo/id or owner/repo/id", () => {
  assert.equal(resolveFunction(functions, "33333333-3333-4333-8333-333333333333").name, "echo");
  assert.equal(resolveFunction(functions, "echo~tools~other").id, functions[2]!.id);
  assert.equal(resolveFunction(functions, "echo").id, functions[2]!.id);
  assert.equal(resolveFunction(functions, "api/hello").id, functions[1]!.id);
  assert.equal(resolveFunction(functions, "acme/app/hello").id, functions[0]!.id);
  assert.equal(resolveFunction(functions, "other/tools/echo").id, functions[2]!.id, "owner and repository match without regard to case, as on GitHub");
});

test("an id two repositories share is a usage error that lists both as owner/repo/id", () => {
  assert.throws(
    () => resolveFunction(functions, "hello"),
    (error: unknown) => error instanceof CliError && error.exitCode === 2 && /'hello' names 2 functions/.test(error.message) && error.message.includes("acme/api/hello") && error.message.includes("acme/app/hello"),
  );
});

test("an unknown name fails (exit 1) and lists what exists", () => {
  assert.throws(
    () => resolveFunction(functions, "acme/app/missing"),
    (error: unknown) => error instanceof CliError && error.exitCode === 1 && /no function 'acme\/app\/missing'/.test(error.message) && error.message.includes("Other/Tools/echo"),
  );
  assert.throws(() => resolveFunction([], "hello"), /Slipway has no functions yet/);
});

async function captured(argv: string[], env: NodeJS.ProcessEnv = {}) {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, { out: (t) => (stdout += t), err: (t) => (stderr += t) }, env);
  return { code, stdout, stderr };
}

function allCommandPaths(command: Command, prefix: string[] = []): string[][] {
  return command.commands.flatMap((child) => [[...prefix, child.name()], ...allCommandPaths(child, [...prefix, child.name()])]);
}

test("every command and subcommand answers --help on stdout with exit 0", async () => {
  const program = createProgram({ out: () => {}, err: () => {} }, {}, () => {});
  const paths = allCommandPaths(program);
  assert.ok(paths.length > 25, `found ${paths.length} commands`);
  for (const path of [[], ...paths]) {
    const result = await captured([...path, "--help"]);
    assert.equal(result.code, 0, `${path.join(" ")} --help: ${result.stderr}`);
    assert.match(result.stdout, new RegExp(`^Usage: slipway ${path.join(" ")}`), path.join(" "));
  }
  const version = await captured(["--version"]);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^slipway \d+\.\d+\.\d+\n$/);
});

test("usage errors exit 2 and say what is wrong; no command at all shows the help", async () => {
  for (const [argv, message] of [
    [["functions", "ls", "--help-me"], /unknown option '--help-me'/],
    [["rollback"], /missing required argument 'function'/],
    [["deploy", "."], /required option '--function <name>' not specified/],
    [["no-such-command"], /unknown command 'no-such-command'/],
    [["deployments", "ls", "--status", "done"], /Allowed choices are queued, building, ready, failed, cancelled/],
    [["deployments", "ls", "--limit", "0"], /must be a whole number from 1 to 500/],
    [["completion", "fish"], /Allowed choices are bash, zsh/],
    [["functions", "ls", "--repo", "acme"], /--repo is owner\/name/],
    [["executions", "show", "not-an-id"], /is not an execution id/],
    [["app", "extra"], /too many arguments|takes no arguments/],
  ] as const) {
    const result = await captured([...argv], { SLIPWAY_TOKEN: "slw_x", SLIPWAY_API_URL: "http://127.0.0.1:9" });
    assert.equal(result.code, 2, `${argv.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, message, argv.join(" "));
    assert.match(result.stderr, /^slipway: /);
  }
  const bare = await captured([]);
  assert.equal(bare.code, 2);
  assert.match(bare.stderr, /Usage: slipway/);
});

test("an unreachable API is a failure (exit 1) that names SLIPWAY_API_URL; a missing token says how to get one", async () => {
  const home = await mkdtemp(join(tmpdir(), "slipway-cli-"));
  try {
    const unreachable = await captured(["functions", "ls"], { XDG_CONFIG_HOME: home, SLIPWAY_TOKEN: "slw_x", SLIPWAY_API_URL: "http://127.0.0.1:9" });
    assert.equal(unreachable.code, 1);
    assert.equal(unreachable.stderr, "slipway: cannot reach the Slipway API at SLIPWAY_API_URL=http://127.0.0.1:9: the connection was refused; is Slipway running there?\n");
    const noToken = await captured(["rollback", "hello"], { XDG_CONFIG_HOME: home });
    assert.equal(noToken.code, 1);
    assert.match(noToken.stderr, /no API token: run `slipway login` or set SLIPWAY_TOKEN/);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});

test("the saved login is used unless SLIPWAY_API_URL and SLIPWAY_TOKEN are set, and is kept mode 0600", async () => {
  const home = await mkdtemp(join(tmpdir(), "slipway-cli-"));
  try {
    const path = cliConfigPath({ XDG_CONFIG_HOME: home });
    assert.equal(path, join(home, "slipway", "config.json"));
    assert.equal(cliConfigPath({ HOME: "/home/someone" }), "/home/someone/.config/slipway/config.json");
    await saveLogin(path, { apiUrl: "https://slipway.example.com/", token: "slw_saved" });
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal((await stat(join(home, "slipway"))).mode & 0o777, 0o700);
    const saved = await loadCliSettings({ XDG_CONFIG_HOME: home });
    assert.equal(saved.apiUrl, "https://slipway.example.com");
    assert.equal(saved.token, "slw_saved");
    assert.match(saved.apiUrlSource, /saved by `slipway login`/);
    const overridden = await loadCliSettings({ XDG_CONFIG_HOME: home, SLIPWAY_API_URL: "http://127.0.0.1:3000", SLIPWAY_TOKEN: "slw_env" });
    assert.equal(overridden.apiUrl, "http://127.0.0.1:3000");
    assert.equal(overridden.token, "slw_env");
    assert.equal(overridden.apiUrlSource, "SLIPWAY_API_URL=http://127.0.0.1:3000");
    await writeFile(path, "{ not json");
    await assert.rejects(loadCliSettings({ XDG_CONFIG_HOME: home }), /config\.json is not valid JSON; fix it or remove it/);
    assert.ok((await readFile(path, "utf8")).includes("not json"), "a broken file is reported, not overwritten");
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});

async function completionsIn(shell: "bash", words: string[]): Promise<string[]> {
  const script = (await captured(["completion", shell])).stdout;
  const line = `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _slipway_complete; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const { stdout } = await run("bash", ["-c", line]);
  return stdout.split("\n").filter(Boolean);
}

test("bash completion offers commands, subcommands and each command's options", async () => {
  assert.deepEqual(await completionsIn("bash", ["slipway", "ro"]), ["rollback"]);
  assert.deepEqual(await completionsIn("bash", ["slipway", "executions", ""]).then((w) => w.filter((x) => !x.startsWith("-"))), ["ls", "show", "run"]);
  const deploy = await completionsIn("bash", ["slipway", "deploy", "--function", "hello", "--"]);
  assert.ok(deploy.includes("--prod") && deploy.includes("--no-cache") && deploy.includes("--json"), deploy.join(" "));
  assert.ok(!deploy.includes("--repo"), "another command's options are not offered");
});

test("zsh completion loads and offers the same words", async (t) => {
  const zsh = await run("zsh", ["--version"]).catch(() => null);
  if (!zsh) return t.skip("zsh is not installed on this machine");
  const script = (await captured(["completion", "zsh"])).stdout;
  // compadd exists only inside the completion system; here it prints what it was given.
  const line = `compadd() { shift; print -l -- "$@"; }; _files() { :; }; compdef() { :; }\n${script}\nwords=(slipway executions ''); CURRENT=3; _slipway`;
  const { stdout } = await run("zsh", ["-f", "-c", line]);
  assert.deepEqual(stdout.split("\n").filter((w) => w && !w.startsWith("-")), ["ls", "show", "run"]);
});
