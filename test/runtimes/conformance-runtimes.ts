// The runtimes that test/runtimes/conformance.test.ts checks against the
// language-neutral part of the open-runtimes v5 contract. Each one names its
// image and a fixture function written in that runtime's language. To add a
// runtime, append one object.
//
// The fixture's entrypoint picks a behaviour from the `x-action` request header.
// Every fixture implements these actions (a runtime's own test may use more):
//
//   plaintext            text("Hello World 👋")
//   json                 json({ json: true, message: "Developers are awesome." }, 201, { "x-json": "yes" })
//   status               text("FAIL", 404, { "X-Custom-Out": "out-value", "x-open-runtimes-custom-out": "must-not-leak" })
//   binary               binary(bytes [0, 10, 255], 200, { "content-type": "application/octet-stream" })
//   redirect             redirect("https://example.com/next")
//   redirectTemporary    redirect("/elsewhere", 307, { "x-why": "moved" })
//   empty                empty()
//   send                 send(<raw request body>, 202, { "x-sent": "1" })
//   customCharset        text("ÅÆ", 200, { "content-type": "text/plain; charset=iso-8859-1" })
//   uppercaseContentType text("ÅÆ", 200, { "Content-Type": "TEXT/PLAIN" })
//   multipart            text("--12345--", 200, { "content-type": "multipart/form-data; boundary=12345" })
//   doubleResponse       builds text("This should be ignored.") but returns text("This should be returned.")
//   request              json({ method, url, scheme, host, port (number), path, query, queryString })
//   headers              json(<request headers>)
//   bodyText / bodyRaw   text(<body as text>)
//   bodyJson             json(<body parsed as JSON>): a bad body fails the execution
//   bodyAuto             json({ type: "object" | "string", body: <req.body> })
//   bodyBinary           binary(<body bytes>)
//   bodyHash             text(<md5 hex of the body bytes>, 200, { "x-size": "<body length>" })
//   logs                 native stdout line "Native log…", native stderr line "Native error",
//                        raw stdout write "Raw stdout write\n", raw stderr write "Raw stderr write\n";
//                        context.log: "Debug log"; (42, 4.2, true); an object containing
//                        "objectKey": "objectValue"; ["arrayValue"]; ("engine:", "open-runtimes");
//                        "A" x 9000; context.error: "Error log"; "B" x 9000; returns text("")
//   taggedLogs           native print "first <body>", sleep 300 ms, native print "second <body>", text(<body>)
//   timeout              context.log("Timeout start."), sleep 3 s, context.log("Timeout end."),
//                        text("Successful response.")
//   throw                context.log("Before error..."), then throw/raise/panic "Intentional failure!"
//   hiddenFile           text(<contents of .config/.file next to the entrypoint, trimmed>) = "HIDDEN_FILE"
//   env                  json({ custom: $CUSTOM_ENV_VAR, entrypoint: $OPEN_RUNTIMES_ENTRYPOINT })

import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export interface ConformanceRuntime {
  /** Directory name under runtimes/. */
  name: string;
  /** Image built by scripts/setup.sh. */
  image: string;
  /** Absolute path of the fixture function's source folder. */
  fixture: string;
  /** OPEN_RUNTIMES_ENTRYPOINT for the fixture. */
  entrypoint: string;
  /** Build commands for the fixture (they fetch one dependency from the language's registry). */
  commands: string;
}

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/functions");

/** Host CA bundle handed to builds (registries are reached through a TLS-intercepting proxy). */
export const HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";
export const hostCaBundle: string | undefined = existsSync(HOST_CA_BUNDLE) ? HOST_CA_BUNDLE : undefined;

// SLIPWAY_TEST_RUNTIME_TAG=<tag> tests slipway/runtime-<name>:<tag> instead of :local.
const tag = process.env.SLIPWAY_TEST_RUNTIME_TAG ?? "local";

export const conformanceRuntimes: ConformanceRuntime[] = [
  {
    name: "node-20",
    image: `slipway/runtime-node-20:${tag}`,
    fixture: path.join(fixtures, "node-contract"),
    entrypoint: "index.js",
    commands: "npm install --no-audit --no-fund",
  },
  {
    name: "python-3.13",
    image: `slipway/runtime-python-3.13:${tag}`,
    fixture: path.join(fixtures, "python-contract"),
    entrypoint: "main.py",
    commands: "pip install -r requirements.txt",
  },
  {
    name: "rust-1.85",
    image: `slipway/runtime-rust-1.85:${tag}`,
    fixture: path.join(fixtures, "rust-contract"),
    entrypoint: "src/lib.rs",
    commands: "cargo fetch",
  },
];
