// Validates a Forge manifest offline: Atlassian's own validator (@forge/manifest, FULL validation), then this
// project's check that every scope is used and every remote call has the scopes it needs, which
// @forge/manifest does not check. Usage: node validate.mjs <manifest.yml>; exit status 1 on any problem.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import process from 'node:process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { ProcessorBuilder, ValidationTypes } = require('@forge/manifest');
const YAML = require('yaml');

// What each Forge Remote call of the backend needs, and why (keep in step with jira_app/urls.py).
const NEEDED = {
  'connectModules': { scopes: ['read:connect-jira'], why: 'Connect modules on Forge' },
  'projects-endpoint': { scopes: ['read:jira-work'], why: 'GET /rest/api/3/project/search with the system token' },
  'lifecycle-endpoint': { scopes: [], why: 'records installs and upgrades; calls no API' },
};
const LIFECYCLE_EVENTS = ['avi:forge:installed:app', 'avi:forge:upgraded:app'];

function scopeProblems(manifest) {
  const problems = [];
  const declared = new Set(manifest.permissions?.scopes ?? []);
  const endpoints = manifest.modules?.endpoint ?? [];
  const needed = new Map();
  const use = (key) => {
    const entry = NEEDED[key];
    if (!entry) {
      problems.push(`${key}: unknown to the scope check; add it to NEEDED in forge/validate/validate.mjs`);
      return;
    }
    for (const scope of entry.scopes) needed.set(scope, `${key} (${entry.why})`);
  };
  if (manifest.connectModules) use('connectModules');
  for (const endpoint of endpoints) use(endpoint.key);
  for (const [scope, user] of needed) {
    if (!declared.has(scope)) problems.push(`scope ${scope} is needed by ${user} but not declared`);
  }
  for (const scope of declared) {
    if (!needed.has(scope)) problems.push(`scope ${scope} is declared but nothing needs it: remove it`);
  }
  const keys = new Set(endpoints.map((endpoint) => endpoint.key));
  const triggers = manifest.modules?.trigger ?? [];
  const events = new Set();
  for (const trigger of triggers) {
    if (!keys.has(trigger.endpoint)) problems.push(`trigger ${trigger.key} names no declared endpoint`);
    for (const event of trigger.events ?? []) events.add(event);
  }
  for (const event of LIFECYCLE_EVENTS) {
    if (!events.has(event)) problems.push(`no trigger sends ${event} to the backend`);
  }
  // The backend is the Connect remote, or (a Forge-only app) the one remote declared.
  const backend = manifest.app?.connect?.remote ?? manifest.remotes?.[0]?.key;
  for (const endpoint of endpoints) {
    if (endpoint.remote !== backend) problems.push(`endpoint ${endpoint.key} must call the backend remote (${backend})`);
    if (endpoint.auth?.appUserToken) problems.push(`endpoint ${endpoint.key} asks for a user token it never uses`);
  }
  return problems;
}

// The problems with the manifest at `path`, one line each; none when it is valid.
export async function validateManifest(path) {
  const problems = [];
  const here = process.cwd();
  // Resource paths in the manifest are relative to its folder, as `forge deploy` reads them.
  process.chdir(dirname(path));
  try {
    const processor = ProcessorBuilder.instance().withValidation(ValidationTypes.FULL).build();
    const result = await processor.process(path);
    for (const error of result.errors ?? []) {
      const line = `${path}:${error.line ?? 0}:${error.column ?? 0}: ${error.level}: ${error.message}`;
      if (error.level === 'error') problems.push(line);
      else console.log(line);
    }
    if (!result.success && problems.length === 0) problems.push(`${path}: @forge/manifest refused it`);
    if (result.success) {
      for (const problem of scopeProblems(YAML.parse(readFileSync(path, 'utf8')))) {
        problems.push(`${path}: error: ${problem}`);
      }
    }
  } finally {
    process.chdir(here);
  }
  return problems;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const path = resolve(process.argv[2] ?? 'manifest.yml');
  const problems = await validateManifest(path);
  for (const problem of problems) console.log(problem);
  console.log(problems.length ? `${path}: invalid` : `${path}: valid (@forge/manifest FULL validation, scopes checked)`);
  process.exit(problems.length ? 1 : 0);
}
