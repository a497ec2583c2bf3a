// Rebuilds dist/ from scratch: the sources in src/ plus the vendored cytoscape.js
// (minified build and its licence). Deterministic: same inputs, byte-identical output.
// Node 20 standard library only. Run from anywhere: `node crates/server/ui/build.mjs`.
import { readdirSync, rmSync, mkdirSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, 'src');
const dist = join(here, 'dist');
const cyto = join(here, 'node_modules', 'cytoscape');

function fail(msg) {
  console.error('build-ui: ' + msg);
  process.exit(1);
}
for (const need of [join(cyto, 'dist', 'cytoscape.min.js'), join(cyto, 'LICENSE')]) {
  try { statSync(need); } catch { fail(`missing ${need}: run \`npm ci\` in ${here} first (or scripts/build-ui)`); }
}
const cytoVersion = JSON.parse(readFileSync(join(cyto, 'package.json'), 'utf8')).version;
const pinned = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8')).dependencies.cytoscape;
if (cytoVersion !== pinned) fail(`node_modules has cytoscape ${cytoVersion}, package.json pins ${pinned}: run \`npm ci\``);

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

const files = [];
for (const name of readdirSync(src).sort()) {
  if (!statSync(join(src, name)).isFile()) continue;
  files.push([name, readFileSync(join(src, name))]);
}
files.push(['cytoscape.min.js', readFileSync(join(cyto, 'dist', 'cytoscape.min.js'))]);
files.push(['cytoscape.LICENSE.txt', readFileSync(join(cyto, 'LICENSE'))]);

let manifest = '';
for (const [name, bytes] of files.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
  writeFileSync(join(dist, name), bytes);
  manifest += `${createHash('sha256').update(bytes).digest('hex')}  ${name}\n`;
}
console.log(`build-ui: dist/ has ${files.length} files (cytoscape ${cytoVersion})`);
process.stdout.write(manifest);
