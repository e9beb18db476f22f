#!/usr/bin/env node
// Writes the JSON Schemas under schemas/ from the compiled code (`npm run build` runs first), or with --check
// fails when a committed schema differs from what the code generates. The list of files lives in
// src/config/schema-files.ts.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const check = args.includes('--check');
const unknown = args.filter((a) => a !== '--check');
if (unknown.length > 0) {
  process.stderr.write(`generate-schemas: unknown argument ${unknown.join(' ')}\nusage: node bin/generate-schemas.mjs [--check]\n`);
  process.exit(2);
}

let schemaFiles, renderSchema, defaultRegistry;
try {
  ({ schemaFiles, renderSchema } = await import('../dist/config/schema-files.js'));
  ({ defaultRegistry } = await import('../dist/components.js'));
} catch (err) {
  process.stderr.write(`generate-schemas: cannot load dist/ (${err.message}): run \`npm run build\` first\n`);
  process.exit(2);
}

const read = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

let stale = 0;
for (const { file, build } of schemaFiles(defaultRegistry())) {
  const path = `${root}/${file}`;
  const text = renderSchema(build());
  const current = read(path);
  if (check) {
    if (current !== text) {
      process.stderr.write(`${file} is stale: run npm run schema\n`);
      stale++;
    }
  } else if (current === text) {
    process.stdout.write(`${file} is up to date\n`);
  } else {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    process.stdout.write(`wrote ${file}\n`);
  }
}
process.exit(stale > 0 ? 1 : 0);
