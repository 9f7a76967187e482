// The validator's own test: forge/manifest.yml passes, and each way of breaking it fails. Usage:
// node selftest.mjs <manifest.yml>; exit status 1 when the manifest fails or a broken copy passes.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import process from 'node:process';
import { validateManifest } from './validate.mjs';

// name: [text to find, what to put instead]
const BREAKAGES = {
  'app.connect without its remote': ['    remote: backend\n    authentication: jwt', '    authentication: jwt'],
  'a connect module type Forge does not know': ['  jira:webhooks:', '  jira:notAModule:'],
  'two jira:lifecycle items': ['      disabled: /jira/disabled\n', '      disabled: /jira/disabled\n    - key: again\n      installed: /jira/installed\n'],
  'an endpoint on an undeclared remote': ['      remote: backend\n      route:', '      remote: elsewhere\n      route:'],
  'a scope nothing needs': ['    - read:jira-work\n', '    - read:jira-work\n    - write:jira-work\n'],
  'a scope the page needs, missing': ['    - read:jira-work\n', ''],
  'no avi:forge:upgraded:app trigger': ['        - avi:forge:upgraded:app\n', ''],
  'a UI resource that does not exist': ['path: src/frontend/index.jsx', 'path: src/frontend/missing.jsx'],
  'not YAML': ['remotes:', 'remotes: : ['],
};

// Variants that must stay valid, as docs/forge.md promises. name: [[text to find, what to put instead], ...]
const VARIANTS = {
  'Forge Remote only, without Connect modules (the fallback for a brand-new app)': [
    [/^  connect:\n(?: {4}.*\n)+/m, ''],
    [/^# The Connect descriptor's modules[^]*?\n\n(?=modules:)/m, ''],
    [/^ {4}# Connect modules on Forge.*\n {4}- read:connect-jira\n/m, ''],
  ],
};

async function validateCopy(text) {
  const folder = mkdtempSync(join(tmpdir(), 'forge-manifest-'));
  try {
    cpSync(join(dirname(manifest), 'src'), join(folder, 'src'), { recursive: true });
    writeFileSync(join(folder, 'manifest.yml'), text);
    return await validateManifest(join(folder, 'manifest.yml'));
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

const manifest = resolve(process.argv[2] ?? 'manifest.yml');
const source = readFileSync(manifest, 'utf8');
let failed = false;
const real = await validateManifest(manifest);
console.log(real.length ? `✗ ${manifest} is invalid:\n  ${real.join('\n  ')}` : `✓ ${manifest} is valid`);
failed ||= real.length > 0;
for (const [name, [find, replace]] of Object.entries(BREAKAGES)) {
  if (!source.includes(find)) {
    console.log(`✗ broken copy '${name}': the manifest no longer holds ${JSON.stringify(find)}; update selftest.mjs`);
    failed = true;
    continue;
  }
  const problems = await validateCopy(source.replace(find, replace));
  console.log(problems.length ? `✓ broken copy '${name}' is refused: ${problems[0].split(': ').slice(2).join(': ')}` : `✗ broken copy '${name}' passed validation`);
  failed ||= problems.length === 0;
}
for (const [name, edits] of Object.entries(VARIANTS)) {
  let text = source;
  for (const [find, replace] of edits) {
    if (!find.test(text)) {
      console.log(`✗ variant '${name}': the manifest no longer matches ${find}; update selftest.mjs`);
      failed = true;
    }
    text = text.replace(find, replace);
  }
  const problems = await validateCopy(text);
  console.log(problems.length ? `✗ variant '${name}' is invalid:\n  ${problems.join('\n  ')}` : `✓ variant '${name}' is valid`);
  failed ||= problems.length > 0;
}
process.exit(failed ? 1 : 0);
