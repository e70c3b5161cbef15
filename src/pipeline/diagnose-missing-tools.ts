// Owns reading a failed build's log for a tool, library or header the build needed and did
// not find (nasm, cmake, pkg-config, protoc, a `.pc` file, a C header, node-gyp's Python or
// make, a C compiler), and saying which Debian package to add with `build.packages`. Pure:
// text in, findings out. The patterns are the messages those tools really print (see
// test/fixtures/build-logs/).

export type MissingTool = {
  /** What is missing, as the user would search for it: `nasm`, `vips.pc`, `yaml.h`. */
  missing: string;
  /** The Debian package(s) that provide it, for `build.packages`; empty when unknown. */
  packages: string[];
  /** One sentence: who needed it and what to do. */
  advice: string;
};

// Headers whose Debian package is not simply lib<name>-dev.
const headerPackages: Record<string, string> = {
  "Python.h": "python3-dev",
  "openssl/ssl.h": "libssl-dev",
  "openssl/opensslv.h": "libssl-dev",
  "zlib.h": "zlib1g-dev",
  "ffi.h": "libffi-dev",
  "yaml.h": "libyaml-dev",
  "sqlite3.h": "libsqlite3-dev",
  "jpeglib.h": "libjpeg-dev",
  "png.h": "libpng-dev",
  "libpq-fe.h": "libpq-dev",
  "pg_config.h": "libpq-dev",
  "mysql.h": "default-libmysqlclient-dev",
  "cairo.h": "libcairo2-dev",
  "gmp.h": "libgmp-dev",
  "krb5.h": "libkrb5-dev",
  "lzma.h": "liblzma-dev",
  "bzlib.h": "libbz2-dev",
  "zstd.h": "libzstd-dev",
  "curl/curl.h": "libcurl4-openssl-dev",
  "libxml/xmlversion.h": "libxml2-dev",
  "libxml/parser.h": "libxml2-dev",
  "libxslt/xslt.h": "libxslt1-dev",
  "vips/vips.h": "libvips-dev",
  "vips/vips8": "libvips-dev",
  "webp/encode.h": "libwebp-dev",
  "tiffio.h": "libtiff-dev",
  "gif_lib.h": "libgif-dev",
  "pango/pango.h": "libpango1.0-dev",
  "ldap.h": "libldap-dev",
  "sasl/sasl.h": "libsasl2-dev",
  "uuid/uuid.h": "uuid-dev",
  "magic.h": "libmagic-dev",
  "gdal.h": "libgdal-dev",
  "geos_c.h": "libgeos-dev",
  "proj.h": "libproj-dev",
};

// pkg-config module names whose -dev package is not lib<name>-dev.
const pcPackages: Record<string, string> = {
  openssl: "libssl-dev",
  libssl: "libssl-dev",
  zlib: "zlib1g-dev",
  "yaml-0.1": "libyaml-dev",
  sqlite3: "libsqlite3-dev",
  libpq: "libpq-dev",
  "cairo": "libcairo2-dev",
  "pangocairo": "libpango1.0-dev",
  "libjpeg": "libjpeg-dev",
  "libpng": "libpng-dev",
  "libwebp": "libwebp-dev",
  "vips": "libvips-dev",
  "vips-cpp": "libvips-dev",
  "libcurl": "libcurl4-openssl-dev",
  "libxml-2.0": "libxml2-dev",
  "dbus-1": "libdbus-1-dev",
  "alsa": "libasound2-dev",
  "libudev": "libudev-dev",
  "fontconfig": "libfontconfig-dev",
  "freetype2": "libfreetype-dev",
  "libzstd": "libzstd-dev",
  "liblzma": "liblzma-dev",
  "libffi": "libffi-dev",
  "libsodium": "libsodium-dev",
  "protobuf": "libprotobuf-dev",
};

// Programs a build runs, with the package that has them.
const programPackages: Record<string, string> = {
  nasm: "nasm",
  yasm: "yasm",
  cmake: "cmake",
  "pkg-config": "pkg-config",
  pkgconf: "pkgconf",
  protoc: "protobuf-compiler",
  make: "make",
  gcc: "build-essential",
  "g++": "build-essential",
  cc: "build-essential",
  "c++": "build-essential",
  "x86_64-linux-gnu-gcc": "build-essential",
  "x86_64-linux-gnu-g++": "build-essential",
  clang: "clang",
  python3: "python3",
  python: "python3",
  perl: "perl",
  git: "git",
  autoconf: "autoconf",
  automake: "automake",
  libtool: "libtool",
  m4: "m4",
  bison: "bison",
  flex: "flex",
  swig: "swig",
  ninja: "ninja-build",
  meson: "meson",
  patch: "patch",
  unzip: "unzip",
  curl: "curl",
  wget: "wget",
  "pg_config": "libpq-dev",
  "mysql_config": "default-libmysqlclient-dev",
};

function headerPackage(header: string): string[] {
  const known = headerPackages[header];
  return known ? [known] : [];
}

function pcPackage(module: string): string[] {
  return [pcPackages[module] ?? `lib${module.replace(/^lib/, "")}-dev`];
}

const fix = (packages: string[]) => (packages.length > 0 ? `add \`build.packages: [${packages.join(", ")}]\` to the function in slipway.yml` : "add the Debian package that provides it to `build.packages` in slipway.yml");

type Rule = { pattern: RegExp; find: (match: RegExpExecArray) => MissingTool | null };

const program = (name: string, who: string): MissingTool => {
  const packages = programPackages[name] ? [programPackages[name]!] : [];
  return { missing: name, packages, advice: `${who} needs the program \`${name}\`, which the build image does not have: ${fix(packages)}.` };
};

const rules: Rule[] = [
  // apt-get, for a build.packages name Debian does not have: "E: Unable to locate package libfoo-dev"
  {
    pattern: /^E: Unable to locate package (\S+)/,
    find: (m) => ({
      missing: m[1]!,
      packages: [],
      advice: `\`${m[1]}\` in build.packages is not a package of Debian trixie: correct or remove it (search https://packages.debian.org/search?suite=trixie&keywords=${encodeURIComponent(m[1]!)}).`,
    }),
  },
  // nasm-rs (rav1e, ravif): "Unable to run nasm: No such file or directory (os error 2)"
  { pattern: /Unable to run (nasm|yasm)\b/, find: (m) => program(m[1]!, "An assembler step (nasm-rs, used by rav1e and ravif)") },
  // cmake crate: "is `cmake` not installed?"
  { pattern: /is `cmake` not installed\?/, find: () => program("cmake", "A crate's build script (the cmake crate, used by aws-lc-rs, libz-ng and others)") },
  // prost-build: "Could not find `protoc`."
  { pattern: /Could not find `protoc`|protoc failed|Could not find protoc installation/, find: () => program("protoc", "prost-build or tonic-build") },
  // pkg-config crate without the program: `Could not run `PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 "pkg-config" ...`
  { pattern: /Could not run `[^`]*"pkg-config"|pkg-config: (?:command )?not found|The pkg-config command could not be found/, find: () => program("pkg-config", "A build script that looks libraries up with pkg-config") },
  // pkg-config without the library: "Package vips was not found in the pkg-config search path." (pkg-config),
  // "Package 'vips', required by 'virtual:world', not found" (pkgconf)
  {
    pattern: /Package '?([A-Za-z0-9_.+-]+?)'?(?:,? required by '[^']*',)? (?:was )?not found(?: in the pkg-config search path)?/,
    find: (m) => {
      const packages = pcPackage(m[1]!);
      return { missing: `${m[1]}.pc`, packages, advice: `pkg-config found no \`${m[1]}.pc\`: the library's -dev package is not installed; ${fix(packages)} (a guess from the name: check https://packages.debian.org/search?searchon=contents&keywords=${m[1]}.pc).` };
    },
  },
  // pkg-config crate: "The system library `vips` required by crate `x` was not found."
  {
    pattern: /The system library `([^`]+)` required by crate `([^`]+)` was not found/,
    find: (m) => {
      const packages = pcPackage(m[1]!);
      return { missing: `${m[1]}.pc`, packages, advice: `The crate \`${m[2]}\` needs the system library \`${m[1]}\` (pkg-config found no \`${m[1]}.pc\`); ${fix(packages)} (a guess from the name: check https://packages.debian.org/search?searchon=contents&keywords=${m[1]}.pc).` };
    },
  },
  // openssl-sys: "Could not find openssl via pkg-config" / "Could not find directory of OpenSSL installation"
  {
    pattern: /Could not find directory of OpenSSL installation|Could not find openssl via pkg-config/,
    find: () => ({ missing: "openssl.pc", packages: ["libssl-dev", "pkg-config"], advice: `openssl-sys found no OpenSSL headers: ${fix(["libssl-dev", "pkg-config"])}, or use reqwest's \`rustls-tls\` feature instead of \`native-tls\`.` }),
  },
  // bindgen: "Unable to find libclang"
  { pattern: /Unable to find libclang|couldn't find any valid shared libraries matching: \['libclang/, find: () => ({ missing: "libclang", packages: ["libclang-dev", "clang"], advice: `bindgen needs libclang: ${fix(["libclang-dev", "clang"])}.` }) },
  // gcc/clang: "capext.c:2:10: fatal error: yaml.h: No such file or directory"
  {
    pattern: /fatal error: ([A-Za-z0-9_./+-]+\.h(?:pp)?|[A-Za-z0-9_+-]+\/[A-Za-z0-9_.+-]+): No such file or directory|fatal error: '([^']+)' file not found/,
    find: (m) => {
      const header = m[1] ?? m[2]!;
      const packages = headerPackage(header);
      const where = packages.length > 0 ? fix(packages) : `${fix([])} (search https://packages.debian.org/search?searchon=contents&keywords=${encodeURIComponent(header)})`;
      return { missing: header, packages, advice: `The C compiler found no header \`${header}\`: the library's -dev package is not installed; ${where}.` };
    },
  },
  // node-gyp: "gyp ERR! stack Error: Could not find any Python installation to use"
  { pattern: /Could not find any Python installation to use|gyp ERR! find Python You need to install/, find: () => program("python3", "node-gyp (a native npm module)") },
  // node-gyp: "gyp ERR! stack Error: not found: make"
  { pattern: /gyp ERR! stack Error: not found: ([A-Za-z0-9_+.-]+)/, find: (m) => program(m[1]!, "node-gyp (a native npm module)") },
  // setuptools: "error: [Errno 2] No such file or directory: 'x86_64-linux-gnu-gcc'",
  // "error: command 'gcc' failed: No such file or directory"
  {
    pattern: /error: (?:\[Errno 2\] No such file or directory: '|command ')((?:[a-z0-9_]+-linux-gnu-)?(?:gcc|g\+\+|cc|c\+\+|clang))'/,
    find: (m) => program(m[1]!, "Building a Python package from source"),
  },
  // cc crate: `failed to find tool "cc": No such file or directory`
  { pattern: /failed to find tool "([^"]+)": No such file or directory/, find: (m) => program(m[1]!, "A crate's build script (the cc crate)") },
  // A shell that cannot run a program: "sh: 1: make: not found", "bash: line 1: cmake: command not found"
  {
    pattern: /^(?:.*?\b(?:sh|bash|dash):(?: line)? \d+: )?([A-Za-z0-9_+.-]+): (?:command )?not found$/m,
    find: (m) => (programPackages[m[1]!] ? program(m[1]!, "A build command") : { missing: m[1]!, packages: [], advice: `A build command runs \`${m[1]}\`, which the build image does not have: ${fix([])}.` }),
  },
];

/** What a failed build's log says is missing, each thing once, in the order the log names them. */
export function diagnoseMissingTools(log: string): MissingTool[] {
  const found: MissingTool[] = [];
  const seen = new Set<string>();
  const lines = log.replace(/\u001b\[[0-9;?]*[ -/]*[@-~]/g, "").split(/\r?\n/);
  for (const line of lines) {
    for (const rule of rules) {
      const match = rule.pattern.exec(line);
      if (!match) continue;
      const tool = rule.find(match);
      if (tool && !seen.has(tool.missing)) {
        seen.add(tool.missing);
        found.push(tool);
      }
      break;
    }
  }
  return found.slice(0, 10);
}

/** The fix for a compiler's "header not found" message, to add to its annotation; null when it is not one. */
export function missingHeaderAdvice(message: string): string | null {
  const rule = rules.find((r) => r.pattern.source.startsWith("fatal error"));
  const match = rule?.pattern.exec(message);
  return match ? rule!.find(match)!.advice : null;
}
