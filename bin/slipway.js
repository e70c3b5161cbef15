#!/usr/bin/env node
// Runs Slipway's TypeScript entry point in this process through tsx, so no build step is
// needed and signals reach Slipway directly.
import { register } from "tsx/esm/api";

register();
await import("../src/main.ts");
