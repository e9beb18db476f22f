#!/usr/bin/env node
// Builds (once) the OpenTelemetry Collector that interoperability tests and `npm run bench -- --reference-collector`
// use, and prints the binary's path on stdout (logic in otelcol-lib.mjs; see README.md).
//   node scripts/infra/otelcol.mjs install
import { installOtelcol } from './otelcol-lib.mjs';

if (process.argv[2] !== 'install' || process.argv.length !== 3) {
  process.stderr.write('usage: otelcol.mjs install\n');
  process.exit(2);
}
try {
  process.stdout.write(`${installOtelcol().binary}\n`);
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
