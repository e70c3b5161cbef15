// Build-log errors become annotations on files that exist in the repository, whatever folder
// each runtime's build copied the function to. Unless a test says it is written by hand, a
// log is real output of `bash helpers/build.sh` in the runtime image (slipway/runtime-*:local)
// for the tree its comment names.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { after, test } from "node:test";
import { parseBuildAnnotations, type BuildAnnotation } from "../../src/pipeline/parse-build-annotations.js";
import { failingFunctions } from "../fixtures/failing-functions.js";

// failingFunctions' signer (rust-1.85), on an empty build cache; most Downloaded and Compiling lines left out.
const signerLog = `17:36:28 [slipway-runtime] Environment preparation started.
17:36:28 [slipway-runtime] Build cache: CARGO_HOME=/mnt/cache/cargo CARGO_TARGET_DIR=/mnt/cache/target
17:36:28 [slipway-runtime] Environment preparation finished.
17:36:28 [slipway-runtime] Compilation started.
17:36:28 [slipway-runtime] Library root: src/lib.rs
17:36:28 [slipway-runtime] Source files: 3 new or changed, 0 unchanged since the cached build.
    Updating crates.io index
 Downloading crates ...
  Downloaded cfg-if v1.0.5
  Downloaded itoa v1.0.18
  Downloaded rand_chacha v0.3.1
   Compiling httparse v1.10.1
   Compiling openruntimes-types-for-rust v1.0.2
   Compiling slipway-runtime v1.0.0 (/usr/local/server/runtime)
   Compiling signer v0.1.0 (/usr/local/server/src/function)
error[E0425]: cannot find value \`missing_value\` in this scope
 --> src/function/src/sign.rs:3:28
  |
3 |     format!("{}{}", input, missing_value)
  |                            ^^^^^^^^^^^^^ not found in this scope

error[E0308]: mismatched types
 --> src/function/src/lib.rs:6:22
  |
6 |     let count: u32 = "three";
  |                ---   ^^^^^^^ expected \`u32\`, found \`&str\`
  |                |
  |                expected due to this

Some errors have detailed explanations: E0308, E0425.
For more information about an error, try \`rustc --explain E0308\`.
error: could not compile \`signer\` (lib) due to 2 previous errors
warning: build failed, waiting for other jobs to finish...
17:37:13 [slipway-runtime] ERROR: Compilation failed (cargo exit code 101).`;
// failingFunctions' settings (python-3.13).
const settingsLog = `17:36:26 [slipway-runtime] Environment preparation started.
17:36:26 [slipway-runtime] Using pip cache /mnt/cache/pip.
17:36:27 [slipway-runtime] Environment preparation finished (Python 3.13.5, virtualenv runtime-env).
17:36:27 [slipway-runtime] Installing requirements.txt.
17:36:27 [slipway-runtime] Build command execution started: python -c 'import main'
Traceback (most recent call last):
  File "<string>", line 1, in <module>
    import main
  File "/usr/local/build/main.py", line 3, in <module>
    SETTINGS = load_settings()
  File "/usr/local/build/app/settings.py", line 5, in load_settings
    return json.loads("{not json")
           ~~~~~~~~~~^^^^^^^^^^^^^
  File "/usr/lib/python3.13/json/__init__.py", line 346, in loads
    return _default_decoder.decode(s)
           ~~~~~~~~~~~~~~~~~~~~~~~^^^
  File "/usr/lib/python3.13/json/decoder.py", line 345, in decode
    obj, end = self.raw_decode(s, idx=_w(s, 0).end())
               ~~~~~~~~~~~~~~~^^^^^^^^^^^^^^^^^^^^^^^
  File "/usr/lib/python3.13/json/decoder.py", line 361, in raw_decode
    obj, end = self.scan_once(s, idx)
               ~~~~~~~~~~~~~~^^^^^^^^
json.decoder.JSONDecodeError: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)
17:36:27 [slipway-runtime] ERROR: Build command failed with exit code 1: python -c 'import main'`;
// failingFunctions' orders (node-20).
const ordersLog = `17:36:16 [slipway-runtime] Environment preparation started.
17:36:16 [slipway-runtime] Environment preparation finished.
17:36:16 [slipway-runtime] Build command execution started: npm install --no-audit --no-fund\\nnpx eslint . || true\\nnpx tsc -p tsconfig.json

added 88 packages in 4s

/usr/local/build/lib/format.js
  2:9   error    'unused' is assigned a value but never used  no-unused-vars
  3:10  error    'missing' is not defined                     no-undef
  3:27  warning  Missing semicolon                            semi

✖ 3 problems (2 errors, 1 warning)
  0 errors and 1 warning potentially fixable with the \`--fix\` option.

src/index.ts(4,9): error TS2322: Type 'string' is not assignable to type 'number'.
src/total.ts(2,46): error TS2552: Cannot find name 'valu'. Did you mean 'value'?
17:36:25 [slipway-runtime] ERROR: Build command failed with exit code 2: npm install --no-audit --no-fund\\nnpx eslint . || true\\nnpx tsc -p tsconfig.json`;
// signer with `pub fn main(context: Context) -> String`: the runtime's src/main.rs no longer compiles.
const rustWrapperLog = `17:34:04 [slipway-runtime] Environment preparation started.
17:34:04 [slipway-runtime] Build cache: CARGO_HOME=/mnt/cache/cargo CARGO_TARGET_DIR=/mnt/cache/target
17:34:04 [slipway-runtime] Environment preparation finished.
17:34:04 [slipway-runtime] Compilation started.
17:34:04 [slipway-runtime] Library root: src/lib.rs
17:34:04 [slipway-runtime] Source files: 2 new or changed, 0 unchanged since the cached build.
   Compiling signer v0.1.0 (/usr/local/server/src/function)
warning: unused import: \`Response\`
 --> src/function/src/lib.rs:1:29
  |
1 | use openruntimes::{Context, Response};
  |                             ^^^^^^^^
  |
  = note: \`#[warn(unused_imports)]\` on by default

warning: unused variable: \`context\`
 --> src/function/src/lib.rs:3:13
  |
3 | pub fn main(context: Context) -> String {
  |             ^^^^^^^ help: if this is intentional, prefix it with an underscore: \`_context\`
  |
  = note: \`#[warn(unused_variables)]\` on by default

warning: \`signer\` (lib) generated 2 warnings (run \`cargo fix --lib -p signer\` to apply 1 suggestion)
   Compiling slipway-rust-server v1.0.0 (/usr/local/server)
error[E0308]: mismatched types
  --> src/main.rs:4:26
   |
4  |     slipway_runtime::run(handler::main)
   |     -------------------- ^^^^^^^^^^^^^ expected fn pointer, found fn item
   |     |
   |     arguments to this function are incorrect
   |
   = note: expected fn pointer \`fn(openruntimes::Context) -> openruntimes::Response\`
                 found fn item \`fn(openruntimes::Context) -> String {signer::main}\`
note: function defined here
  --> /usr/local/server/runtime/src/lib.rs:34:8
   |
34 | pub fn run(handler: Handler) -> ! {
   |        ^^^

For more information about this error, try \`rustc --explain E0308\`.
error: could not compile \`slipway-rust-server\` (bin "slipway-rust-server") due to 1 previous error
17:34:04 [slipway-runtime] ERROR: Compilation failed (cargo exit code 101).`;
// main.py: `Version("latest")` at import, packaging==24.2 in requirements.txt, commands `pip install -q -r requirements.txt && python -c 'import main'`.
const pythonDependencyLog = `17:34:52 [slipway-runtime] Environment preparation started.
17:34:52 [slipway-runtime] Using pip cache /mnt/cache/pip.
17:34:53 [slipway-runtime] Environment preparation finished (Python 3.13.5, virtualenv runtime-env).
17:34:53 [slipway-runtime] Build command execution started: pip install -q -r requirements.txt && python -c 'import main'
Traceback (most recent call last):
  File "<string>", line 1, in <module>
    import main
  File "/usr/local/build/main.py", line 3, in <module>
    MINIMUM = Version("latest")
  File "/usr/local/build/runtime-env/lib/python3.13/site-packages/packaging/version.py", line 202, in __init__
    raise InvalidVersion(f"Invalid version: {version!r}")
packaging.version.InvalidVersion: Invalid version: 'latest'
17:34:54 [slipway-runtime] ERROR: Build command failed with exit code 1: pip install -q -r requirements.txt && python -c 'import main'`;
// main.py with an unclosed parenthesis on line 2, commands `python -m py_compile main.py`.
const pythonCompileLog = `17:34:08 [slipway-runtime] Environment preparation started.
17:34:08 [slipway-runtime] Using pip cache /mnt/cache/pip.
17:34:09 [slipway-runtime] Environment preparation finished (Python 3.13.5, virtualenv runtime-env).
17:34:09 [slipway-runtime] Build command execution started: python -m py_compile main.py
  File "main.py", line 2
    return context.res.json({"ok": True}
                           ^
SyntaxError: '(' was never closed
17:34:09 [slipway-runtime] ERROR: Build command failed with exit code 1: python -m py_compile main.py`;
// The same main.py, commands `python main.py`.
const pythonRunLog = `17:34:09 [slipway-runtime] Environment preparation started.
17:34:09 [slipway-runtime] Using pip cache /mnt/cache/pip.
17:34:09 [slipway-runtime] Environment preparation finished (Python 3.13.5, virtualenv runtime-env).
17:34:09 [slipway-runtime] Build command execution started: python main.py
  File "/usr/local/build/main.py", line 2
    return context.res.json({"ok": True}
                           ^
SyntaxError: '(' was never closed
17:34:09 [slipway-runtime] ERROR: Build command failed with exit code 1: python main.py`;
// orders, commands `npm install --silent && npx tsc -p tsconfig.json --pretty`.
const tscPrettyLog = `17:34:23 [slipway-runtime] Environment preparation started.
17:34:23 [slipway-runtime] Environment preparation finished.
17:34:23 [slipway-runtime] Build command execution started: npm install --silent && npx tsc -p tsconfig.json --pretty
\u001b[96msrc/index.ts\u001b[0m:\u001b[93m4\u001b[0m:\u001b[93m9\u001b[0m - \u001b[91merror\u001b[0m\u001b[90m TS2322: \u001b[0mType 'string' is not assignable to type 'number'.

\u001b[7m4\u001b[0m   const count: number = "three";
\u001b[7m \u001b[0m \u001b[91m        ~~~~~\u001b[0m

\u001b[96msrc/total.ts\u001b[0m:\u001b[93m2\u001b[0m:\u001b[93m46\u001b[0m - \u001b[91merror\u001b[0m\u001b[90m TS2552: \u001b[0mCannot find name 'valu'. Did you mean 'value'?

\u001b[7m2\u001b[0m   return values.reduce((sum, value) => sum + valu, 0);
\u001b[7m \u001b[0m \u001b[91m                                             ~~~~\u001b[0m

  \u001b[96msrc/total.ts\u001b[0m:\u001b[93m2\u001b[0m:\u001b[93m30\u001b[0m
    \u001b[7m2\u001b[0m   return values.reduce((sum, value) => sum + valu, 0);
    \u001b[7m \u001b[0m \u001b[96m                             ~~~~~\u001b[0m
    'value' is declared here.


Found 2 errors in 2 files.

Errors  Files
     1  src/index.ts\u001b[90m:4\u001b[0m
     1  src/total.ts\u001b[90m:2\u001b[0m
17:34:28 [slipway-runtime] ERROR: Build command failed with exit code 2: npm install --silent && npx tsc -p tsconfig.json --pretty`;
// orders with eslint-formatter-unix, commands `npm install --silent && npx eslint --format unix .`.
const eslintUnixLog = `17:34:42 [slipway-runtime] Environment preparation started.
17:34:42 [slipway-runtime] Environment preparation finished.
17:34:42 [slipway-runtime] Build command execution started: npm install --silent && npx eslint --format unix .
/usr/local/build/lib/format.js:2:9: 'unused' is assigned a value but never used. [Error/no-unused-vars]
/usr/local/build/lib/format.js:3:10: 'missing' is not defined. [Error/no-undef]
/usr/local/build/lib/format.js:3:27: Missing semicolon. [Warning/semi]

3 problems
17:34:48 [slipway-runtime] ERROR: Build command failed with exit code 1: npm install --silent && npx eslint --format unix .`;

const logs: Record<keyof typeof failingFunctions, string> = { "rust-1.85": signerLog, "python-3.13": settingsLog, "node-20": ordersLog };

const checkouts: string[] = [];
after(() => checkouts.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function checkOut(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "slipway-annotations-"));
  checkouts.push(dir);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

function filesIn(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)));
}

const located = (annotations: BuildAnnotation[]) => annotations.map((a) => [a.path, a.start_line, a.annotation_level, a.title, a.message]);
const byPlace = (a: [string, number, ...unknown[]], b: [string, number, ...unknown[]]) => a[0].localeCompare(b[0]) || a[1] - b[1];

for (const [runtime, fn] of Object.entries(failingFunctions)) {
  test(`${runtime}: every annotation is at a file of the checked-out tree, on the line the error names`, () => {
    const checkout = checkOut(fn.files);
    const annotations = parseBuildAnnotations(logs[runtime as keyof typeof logs], fn.root, { runtime });
    const found = annotations.map((a) => [a.path, a.start_line] as [string, number]).sort(byPlace);
    assert.deepEqual(found, [...fn.expected].sort(byPlace).map(([path, line]) => [path, line]));
    for (const [path, line, excerpt] of fn.expected) {
      assert.ok(existsSync(join(checkout, path)), `${path} is not in the tree`);
      const text = readFileSync(join(checkout, path), "utf8").split("\n")[line - 1] ?? "";
      assert.ok(text.includes(excerpt), `${path}:${line} is "${text}"`);
    }
    // Given the tree's files, the parser finds the same places.
    assert.deepEqual(parseBuildAnnotations(logs[runtime as keyof typeof logs], fn.root, { runtime, files: filesIn(checkout) }), annotations);
  });
}

test("rust: cargo's workspace paths (src/function/…) are the crate's own paths", () => {
  assert.deepEqual(located(parseBuildAnnotations(signerLog, "functions/signer", { runtime: "rust-1.85" })), [
    ["functions/signer/src/sign.rs", 3, "failure", "cargo error[E0425]", "cannot find value `missing_value` in this scope"],
    ["functions/signer/src/lib.rs", 6, "failure", "cargo error[E0308]", "mismatched types"],
  ]);
});

test("rust: the runtime's wrapper crate and registry crates are not annotated", () => {
  // Written by hand: an error inside a dependency extracted into the build cache's CARGO_HOME.
  const registryError = `error[E0599]: no method named \`as_str\` found for struct \`Value\` in the current scope
  --> /mnt/cache/cargo/registry/src/index.crates.io-1949cf8c6b5b557f/openruntimes-types-for-rust-1.0.2/src/lib.rs:88:21
   |
88 |         body.as_str()
   |              ^^^^^^ method not found in \`Value\``;
  assert.deepEqual(located(parseBuildAnnotations(`${rustWrapperLog}\n${registryError}`, "functions/signer", { runtime: "rust-1.85" })), [
    ["functions/signer/src/lib.rs", 1, "warning", "cargo warning", "unused import: `Response`"],
    ["functions/signer/src/lib.rs", 3, "warning", "cargo warning", "unused variable: `context`"],
  ]);
});

test("rust: absolute paths of the crate's copies map back too", () => {
  // Written by hand: the paths rustc prints for a crate outside its working directory.
  const log = `error[E0308]: mismatched types
 --> /usr/local/server/src/function/src/lib.rs:6:22
error[E0425]: cannot find value \`missing_value\` in this scope
 --> /usr/local/build/src/sign.rs:3:28`;
  assert.deepEqual(
    parseBuildAnnotations(log, "functions/signer", { runtime: "rust-1.85" }).map((a) => [a.path, a.start_line]),
    [["functions/signer/src/lib.rs", 6], ["functions/signer/src/sign.rs", 3]],
  );
});

test("python: a traceback points at the deepest frame of the function's code, not the standard library's", () => {
  assert.deepEqual(located(parseBuildAnnotations(settingsLog, ".", { runtime: "python-3.13" })), [
    ["app/settings.py", 5, "failure", "Python traceback", "json.decoder.JSONDecodeError: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"],
  ]);
});

test("python: frames in the function's virtualenv are its dependencies, not its code", () => {
  assert.deepEqual(located(parseBuildAnnotations(pythonDependencyLog, "api", { runtime: "python-3.13" })), [
    ["api/main.py", 3, "failure", "Python traceback", "packaging.version.InvalidVersion: Invalid version: 'latest'"],
  ]);
});

test("python: a SyntaxError printed without a Traceback header is annotated", () => {
  for (const log of [pythonCompileLog, pythonRunLog]) {
    assert.deepEqual(located(parseBuildAnnotations(log, "api", { runtime: "python-3.13" })), [["api/main.py", 2, "failure", "Python traceback", "SyntaxError: '(' was never closed"]]);
  }
});

test("python: the folder the function is served from maps back too", () => {
  // Written by hand: a traceback from the unpacked artifact, frames as Python prints them.
  const log = `Traceback (most recent call last):
  File "/usr/local/server/src/slipway_runtime/server.py", line 88, in load
    module = importlib.import_module(name)
  File "/usr/lib/python3.13/importlib/__init__.py", line 88, in import_module
    return _bootstrap._gcd_import(name[level:], package, level)
  File "<frozen importlib._bootstrap>", line 1387, in _gcd_import
  File "/usr/local/server/src/function/main.py", line 3, in <module>
    SETTINGS = load_settings()
  File "/usr/local/server/src/function/app/settings.py", line 5, in load_settings
    return simplejson.loads("{not json")
  File "/usr/local/server/src/function/runtime-env/lib/python3.13/site-packages/simplejson/__init__.py", line 514, in loads
    return _default_decoder.decode(s)
simplejson.errors.JSONDecodeError: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)`;
  assert.deepEqual(parseBuildAnnotations(log, "services/settings", { runtime: "python-3.13" }).map((a) => [a.path, a.start_line]), [["services/settings/app/settings.py", 5]]);
});

test("node: tsc's plain and pretty formats", () => {
  const expected = [
    ["web/src/index.ts", 4, "failure", "tsc TS2322", "Type 'string' is not assignable to type 'number'."],
    ["web/src/total.ts", 2, "failure", "tsc TS2552", "Cannot find name 'valu'. Did you mean 'value'?"],
  ];
  assert.deepEqual(located(parseBuildAnnotations(ordersLog, "web", { runtime: "node-20" })).filter(([, , , title]) => String(title).startsWith("tsc")), expected);
  assert.deepEqual(located(parseBuildAnnotations(tscPrettyLog, "web", { runtime: "node-20" })), expected);
});

test("node: ESLint's stylish and unix formats, with the rule as the title", () => {
  assert.deepEqual(located(parseBuildAnnotations(ordersLog, "web", { runtime: "node-20" })).filter(([, , , title]) => String(title).startsWith("eslint")), [
    ["web/lib/format.js", 2, "failure", "eslint no-unused-vars", "'unused' is assigned a value but never used"],
    ["web/lib/format.js", 3, "failure", "eslint no-undef", "'missing' is not defined"],
    ["web/lib/format.js", 3, "warning", "eslint semi", "Missing semicolon"],
  ]);
  assert.deepEqual(located(parseBuildAnnotations(eslintUnixLog, "web", { runtime: "node-20" })), [
    ["web/lib/format.js", 2, "failure", "eslint no-unused-vars", "'unused' is assigned a value but never used."],
    ["web/lib/format.js", 3, "failure", "eslint no-undef", "'missing' is not defined."],
    ["web/lib/format.js", 3, "warning", "eslint semi", "Missing semicolon."],
  ]);
});

test("node: files under node_modules and the toolchain's own are not annotated", () => {
  // Written by hand: tsc checking a dependency's types, ESLint linting a nested package's
  // dependency, and a tool installed globally.
  const log = `node_modules/@types/express/index.d.ts(3,1): error TS2300: Duplicate identifier 'Request'.
/usr/local/build/packages/util/node_modules/left-pad/index.js:1:1: 'module' is not defined. [Error/no-undef]
/usr/local/lib/node_modules/npm/lib/cli.js:12:5: error: unexpected token`;
  assert.deepEqual(parseBuildAnnotations(log, "web", { runtime: "node-20" }), []);
});

test("with the function's files known, a folder no layout names is matched by the file it ends with", () => {
  // Written by hand: an operator's runtime image that builds in /opt/app.
  const log = `/opt/app/src/index.ts(4,9): error TS2322: Type 'string' is not assignable to type 'number'.
/opt/app/dist/index.js(1,1): error TS5055: Cannot write file because it would overwrite input file.
Traceback (most recent call last):
  File "/opt/app/handler.py", line 7, in <module>
    main()
  File "/usr/lib/python3.13/json/decoder.py", line 345, in decode
    obj, end = self.raw_decode(s, idx=_w(s, 0).end())
json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)`;
  // decoder.py is the function's too, but the frame in /usr/lib is the standard library's.
  const files = ["fn/src/index.ts", "fn/handler.py", "fn/decoder.py", "other/src/index.ts"];
  assert.deepEqual(parseBuildAnnotations(log, "fn", { runtime: "go-1.23", files }).map((a) => [a.path, a.start_line]), [
    ["fn/src/index.ts", 4],
    ["fn/handler.py", 7],
  ]);
  // Without the files nothing says where /opt/app is, so nothing is annotated.
  assert.deepEqual(parseBuildAnnotations(log, "fn", { runtime: "go-1.23" }), []);
});

test("with the function's files known, a path that is not one of them is not annotated", () => {
  // Written by hand: tsc reporting a file the build generated.
  const log = `src/generated.ts(1,1): error TS2307: Cannot find module './schema.js'.
src/index.ts(4,9): error TS2322: Type 'string' is not assignable to type 'number'.`;
  assert.deepEqual(parseBuildAnnotations(log, "web", { runtime: "node-20", files: ["web/src/index.ts"] }).map((a) => a.path), ["web/src/index.ts"]);
});
