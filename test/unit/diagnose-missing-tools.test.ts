// A failed build names what it lacked and the build.packages line that adds it. Every log
// in test/fixtures/build-logs/ is real output of a failing build in a runtime image; its
// README says which image and which crate, addon or sdist.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { failureOutput } from "../../src/github/render-check-run.js";
import { parseBuildAnnotations } from "../../src/pipeline/parse-build-annotations.js";
import { diagnoseMissingTools } from "../../src/pipeline/diagnose-missing-tools.js";

const log = (name: string) => readFileSync(new URL(`../fixtures/build-logs/${name}.txt`, import.meta.url), "utf8");
const found = (name: string) => diagnoseMissingTools(log(name)).map((m) => [m.missing, m.packages]);

test("rav1e's nasm-rs without nasm: nasm, from the package nasm", () => {
  assert.deepEqual(found("rust-nasm"), [["nasm", ["nasm"]]]);
});

test("the cmake crate without cmake: cmake", () => {
  assert.deepEqual(found("rust-cmake"), [["cmake", ["cmake"]]]);
});

test("a crate probing pkg-config for a library that is not installed: its .pc file and -dev package", () => {
  assert.deepEqual(found("rust-pkg-config-vips"), [["vips.pc", ["libvips-dev"]]]);
});

test("openssl-sys without OpenSSL's headers: libssl-dev and pkg-config, said once", () => {
  assert.deepEqual(found("rust-openssl-sys"), [["openssl.pc", ["libssl-dev", "pkg-config"]]]);
});

test("node-gyp without make, and without Python", () => {
  assert.deepEqual(found("node-gyp-no-make"), [["make", ["make"]]]);
  assert.deepEqual(found("node-gyp-no-python"), [["python3", ["python3"]]]);
});

test("a Python sdist with a C extension and no compiler: build-essential", () => {
  assert.deepEqual(found("python-sdist-no-gcc"), [["x86_64-linux-gnu-gcc", ["build-essential"]]]);
});

test("a missing C header, from node-gyp and from pip: the header and its -dev package", () => {
  assert.deepEqual(found("node-gyp-missing-header"), [["yaml.h", ["libyaml-dev"]]]);
  assert.deepEqual(found("python-sdist-missing-header"), [["yaml.h", ["libyaml-dev"]]]);
});

test("a build command that runs a program the image lacks", () => {
  assert.deepEqual(found("shell-no-pkg-config"), [["pkg-config", ["pkg-config"]]]);
});

test("a log with an ordinary compile error names nothing missing", () => {
  const compileError = "error[E0308]: mismatched types\n --> src/function/src/lib.rs:4:5\nerror: could not compile `handler` (lib) due to 1 previous error\n";
  assert.deepEqual(diagnoseMissingTools(compileError), []);
  assert.deepEqual(diagnoseMissingTools("npm ERR! 404 Not Found - GET https://registry.npmjs.org/left-padd - Not found\n"), []);
});

test("the check run's title and summary name what is missing and the build.packages fix", () => {
  const output = failureOutput({ version: 4, reason: "the build command exited with code 101", log: log("rust-nasm"), timings: {} });
  assert.equal(output.title, "v4 failed: nasm missing (the build command exited with code 101)");
  assert.match(output.summary, /\*\*Missing from the build:\*\* `nasm`/);
  assert.match(output.summary, /add `build\.packages: \[nasm\]` to the function in slipway\.yml/);
  assert.match(output.summary, /```yaml\nbuild:\n {2}packages: \[nasm\]\n```/);
  const plain = failureOutput({ version: 4, reason: "the build command exited with code 1", log: "Error: boom\n", timings: {} });
  assert.equal(plain.title, "v4 failed: the build command exited with code 1");
  assert.doesNotMatch(plain.summary, /Missing from the build/);
});

test("a missing header in the function's own addon is annotated on its #include line, with the fix", () => {
  // node-gyp's make runs in build/ and prints ../cap.c; the build ran in /usr/local/build.
  const annotations = parseBuildAnnotations(log("node-gyp-missing-header"), "functions/addon", { runtime: "node-20" });
  assert.equal(annotations.length, 1);
  assert.equal(annotations[0]!.path, "functions/addon/cap.c");
  assert.equal(annotations[0]!.start_line, 2);
  assert.match(annotations[0]!.message, /^fatal error: yaml\.h: No such file or directory\n.*build\.packages: \[libyaml-dev\]/);
});

test("a build.packages name Debian does not have is named as such", () => {
  const [unknown, ...rest] = diagnoseMissingTools(log("build-packages-unknown-name"));
  assert.equal(rest.length, 0);
  assert.equal(unknown!.missing, "libnosuch-dev");
  assert.match(unknown!.advice, /is not a package of Debian trixie: correct or remove it/);
});
