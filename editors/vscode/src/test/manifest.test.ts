// package.json's contributions against the code and against server/lsp/PROTOCOL.md.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { CLIENT_SETTING_KEYS, SERVER_SETTING_KEYS } from '../settings';

// Compiled to out/test/, two levels below the extension folder.
const root = path.join(__dirname, '..', '..');
const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  contributes: {
    commands: { command: string; title: string }[];
    configuration: { properties: Record<string, { type: string | string[]; default: unknown }> };
    configurationDefaults: Record<string, Record<string, unknown>>;
  };
};
const properties = manifest.contributes.configuration.properties;
const protocolPath = path.join(root, '..', '..', 'server', 'lsp', 'PROTOCOL.md');

describe('package.json', () => {
  it('contributes exactly the settings the code knows', () => {
    const contributed = Object.keys(properties).sort();
    const known = [...SERVER_SETTING_KEYS, ...CLIENT_SETTING_KEYS].map((key) => `precedent.${key}`).sort();
    assert.deepEqual(contributed, known);
  });

  it('defaults to null the settings whose default is the index\'s or the installed model\'s', () => {
    for (const key of ['modelPath', 'corpusIndexPath', 'k', 'lambda', 'temperature', 'documentCache', 'documentCacheSkipRecent']) {
      const property = properties[`precedent.${key}`];
      assert.equal(property.default, null, key);
      assert.ok(Array.isArray(property.type) && property.type.includes('null'), `${key} accepts null`);
    }
  });

  it('gives every setting a type that admits its default', () => {
    for (const [key, property] of Object.entries(properties)) {
      const types = Array.isArray(property.type) ? property.type : [property.type];
      const value = property.default;
      const kind = value === null ? 'null' : Array.isArray(value) ? 'array' : Number.isInteger(value) ? 'integer' : typeof value;
      const admitted = types.includes(kind) || (kind === 'integer' && types.includes('number'));
      assert.ok(admitted, `${key}: default ${JSON.stringify(value)} is not ${types.join('|')}`);
    }
  });

  it('turns on quick suggestions, and off word-based ones, for Markdown and plain text', () => {
    for (const language of ['[markdown]', '[plaintext]']) {
      const defaults = manifest.contributes.configurationDefaults[language];
      assert.deepEqual(defaults['editor.quickSuggestions'], { other: 'on', comments: 'off', strings: 'off' });
      assert.equal(defaults['editor.wordBasedSuggestions'], 'off');
    }
  });

  it('does not claim the command id the server registers through vscode-languageclient', () => {
    const ids = manifest.contributes.commands.map((command) => command.command);
    assert.ok(!ids.includes('precedent.reindex'));
    for (const id of ['precedent.reindexCorpus', 'precedent.showStatus', 'precedent.showEvidence']) {
      assert.ok(ids.includes(id), id);
    }
  });
});

describe('server/lsp/PROTOCOL.md', { skip: !fs.existsSync(protocolPath) && 'not in a precedent checkout' }, () => {
  it('lists the same settings as the extension sends', () => {
    const text = fs.readFileSync(protocolPath, 'utf8');
    const section = text.slice(text.indexOf('## Settings'));
    const documented = [...section.matchAll(/^\| `([A-Za-z.]+)` \|/gm)].map((match) => match[1]).sort();
    assert.deepEqual(documented, [...SERVER_SETTING_KEYS].sort());
  });
});
