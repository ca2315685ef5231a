// Each state the server's status can be in (server/lsp/src/protocol.rs, `Status`: the source
// of truth for its fields), sent by a server as precedent/statusChanged and answered to
// precedent/status: the status bar item must show it, and the Show status command must show
// the same. The extension (extension.js under the stand-in `vscode` module) runs a stand-in
// server, which takes the status to send from the test (its `fake.setStatus` command).

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { normalizeStatus, type IndexStatus, type ServerStatus } from '../status';
import { extensionRoot, serverSource } from '../testSupport/repo';
import * as vscode from '../testSupport/vscodeStub';
import { waitUntil } from '../testSupport/waitUntil';

type Extension = { activate(context: { subscriptions: unknown[] }): void; deactivate(): Promise<void> };

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'precedent-status-'));
const recordFile = path.join(dir, 'received.jsonl');
const item = () => vscode.statusBarItems[0];
const waitFor = <T>(what: string, probe: () => T | undefined | false) =>
  waitUntil(what, probe, { explain: () => `status bar: ${item()?.text}; output:\n${vscode.outputLines.join('\n')}` });
const CLICK = '\n\nClick for details.';

const MODEL = 'SmolLM2-135M-Instruct (q4)';
const teamIndex: IndexStatus = { path: '/abs/team.index', entries: 1000, documents: 40, modified: '2026-11-26T16:00:00Z', keepInlineCode: false, replacementError: null, searchError: null };
const docsIndex: IndexStatus = { path: '/abs/docs.index', entries: 234, documents: 3, modified: null, keepInlineCode: true, replacementError: null, searchError: null };
const ready: ServerStatus = {
  model: MODEL,
  modelError: null,
  indexes: [teamIndex, docsIndex],
  indexing: false,
  lastUpdate: '2026-11-26T16:00:00Z',
  k: 64,
  lambda: 0.4,
  temperature: 2.0,
  documentCache: true,
  documentCacheSkipRecent: 4,
};
// What the server sends before its model is ready (AssistantSlot::Loading in state.rs).
const loading: ServerStatus = { ...ready, model: null, indexes: [], lastUpdate: null, k: null, lambda: null, temperature: null, documentCache: null, documentCacheSkipRecent: null };

/** A status as the server sends it, and what the writer must see of it. */
interface StatusCase {
  state: string;
  status: ServerStatus;
  text: string;
  /** Lines the tooltip (and the details in the output) must hold. */
  details: RegExp[];
  summary: string;
}

const cases: StatusCase[] = [
  {
    state: 'the model is loading',
    status: loading,
    text: '$(sync~spin) precedent: loading model',
    details: [/^Model: loading$/m, /^Indexes: none\./m],
    summary: 'precedent: loading the language model.',
  },
  {
    state: 'no model could be loaded',
    status: { ...loading, modelError: 'no manifest.json in /m' },
    text: '$(warning) precedent: no model',
    details: [/^Model: none could be loaded$/m, /^ {2}no manifest\.json in \/m$/m, /precedent setup/],
    summary: 'precedent: no model could be loaded: no manifest.json in /m',
  },
  {
    state: 'ready without an index',
    status: { ...ready, indexes: [] },
    text: '$(book) precedent: no index',
    details: [/^Model: SmolLM2-135M-Instruct \(q4\)$/m, /^Indexes: none\. Suggestions come from the model alone\.$/m, /precedent\.indexPaths/],
    summary: `precedent: model ${MODEL}, no index.`,
  },
  {
    state: 'ready with indexes',
    status: ready,
    text: '$(book) precedent: 1,234 entries',
    details: [
      /^Indexes: 1,234 entries in total$/m,
      /^ {2}\/abs\/team\.index: 1,000 entries, 40 documents, modified 2026-11-26T16:00:00Z$/m,
      /^ {2}\/abs\/docs\.index: 234 entries, 3 documents, inline code kept$/m,
      /^Indexing: idle$/m,
      /^Last update: 2026-11-26T16:00:00Z$/m,
      /^Parameters: k = 64, λ = 0\.4, T = 2, document cache on, skip recent = 4$/m,
    ],
    summary: `precedent: model ${MODEL}, 2 indexes with 1,234 entries.`,
  },
  {
    state: 'indexing',
    status: { ...ready, indexing: true },
    text: '$(sync~spin) precedent: indexing',
    details: [/^Indexing: running$/m],
    summary: `precedent: model ${MODEL}, 2 indexes with 1,234 entries, indexing now.`,
  },
  {
    state: 'an index file replaced by one that cannot be opened',
    status: { ...ready, indexes: [{ ...teamIndex, replacementError: 'not a precedent index' }, docsIndex] },
    text: '$(warning) precedent: 1,234 entries',
    details: [/^ {4}Its file was replaced by one that cannot be opened \(the index loaded before still serves\): not a precedent index$/m],
    summary: `precedent: model ${MODEL}, 2 indexes with 1,234 entries, 1 index file could not be reloaded.`,
  },
  {
    state: 'a Milvus index whose searches fail',
    status: { ...ready, indexes: [{ ...teamIndex, path: 'milvus://db:19530/house', searchError: 'cannot reach the Milvus engine' }, docsIndex] },
    text: '$(warning) precedent: 1,234 entries',
    details: [/^ {4}Its searches fail; suggestions go on without it until it answers: cannot reach the Milvus engine$/m],
    summary: `precedent: model ${MODEL}, 2 indexes with 1,234 entries, 1 index does not answer.`,
  },
];

/** The fields of a `pub struct` in protocol.rs, camelCased as serde sends them. */
function protocolFields(source: string, struct: string): string[] {
  const body = new RegExp(`pub struct ${struct} \\{([^}]*)\\}`).exec(source)?.[1] ?? '';
  return [...body.matchAll(/^\s*pub (\w+):/gm)].map((match) => match[1].replace(/_(\w)/g, (_, c: string) => c.toUpperCase()));
}

describe('the status states', () => {
  const protocol = serverSource(path.join('lsp', 'src', 'protocol.rs'));
  it('here are every field the server sends, and the extension keeps them all', { skip: protocol === undefined && 'not in a precedent checkout' }, () => {
    const statusFields = protocolFields(protocol!, 'Status').sort();
    const indexFields = protocolFields(protocol!, 'IndexStatus').sort();
    assert.ok(statusFields.includes('model') && indexFields.includes('path'), 'protocol.rs read');
    for (const { state, status } of cases) {
      assert.deepEqual(Object.keys(status).sort(), statusFields, state);
      for (const index of status.indexes) {
        assert.deepEqual(Object.keys(index).sort(), indexFields, state);
      }
    }
    // normalizeStatus drops nothing the server sends.
    const normalized = normalizeStatus(ready);
    assert.deepEqual(Object.keys(normalized).sort(), statusFields);
    assert.deepEqual(Object.keys(normalized.indexes[0]).sort(), indexFields);
    assert.deepEqual(normalized, ready);
  });
});

describe('each server status, in the status bar and Show status (stand-in server)', { skip: process.platform === 'win32' && 'uses a shell script as the server' }, () => {
  let extension: Extension;

  before(() => {
    vscode.installStub();
    vscode.setDefaultsFromManifest(path.join(extensionRoot, 'package.json'));
    const server = path.join(dir, 'precedent');
    fs.writeFileSync(server, `#!/bin/sh\nexec "${process.execPath}" "${path.join(__dirname, '..', 'testSupport', 'fakeServer.js')}" "$@"\n`, { mode: 0o755 });
    vscode.userSettings.set('precedent.serverPath', server);
    vscode.userSettings.set('precedent.serverArgs', ['--record', recordFile]);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    extension = require('../extension') as Extension;
    extension.activate({ subscriptions: [] });
  });

  after(async () => {
    await extension.deactivate();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('says "starting" until the server is up, with the Show status command behind the item', () => {
    assert.equal(item().text, '$(sync~spin) precedent: starting');
    assert.equal(item().tooltip, 'Starting the precedent language server.');
    assert.equal(item().command, 'precedent.showStatus');
  });

  it('shows the status the server answers once it runs', async () => {
    await waitFor('the stand-in server\'s status', () => item().text === '$(book) precedent: 109,527 entries');
    // vscode-languageclient has registered the server's commands by then.
    assert.ok((await vscode.stub.commands.getCommands()).includes('fake.setStatus'));
  });

  for (const { state, status, text, details, summary } of cases) {
    it(`shows "${state}" in the status bar, and the same in Show status`, async () => {
      await vscode.stub.commands.executeCommand('fake.setStatus', status);
      // From precedent/statusChanged.
      await waitFor(`"${text}"`, () => item().text === text);
      const tooltip = String(item().tooltip);
      assert.ok(tooltip.endsWith(CLICK), tooltip);
      for (const line of details) {
        assert.match(tooltip, line);
      }

      // Show status asks precedent/status: the same status, the same view, the same details.
      const outputBefore = vscode.outputLines.length;
      const messagesBefore = vscode.messages.length;
      await vscode.stub.commands.executeCommand('precedent.showStatus');
      assert.deepEqual(vscode.messages.slice(messagesBefore), [{ kind: 'info', text: summary }]);
      const shown = vscode.outputLines.slice(outputBefore);
      assert.match(shown[0], /^precedent status \(\d{4}-\d\d-\d\dT.*\):$/);
      assert.equal(shown.slice(1).join('\n'), tooltip.slice(0, -CLICK.length), 'the output channel shows the tooltip\'s details');
      assert.equal(item().text, text);
    });
  }

  it('says "not installed" when serverPath names no program, and Show status says so too', async () => {
    vscode.userSettings.set('precedent.serverPath', path.join(dir, 'missing', 'precedent'));
    vscode.onDidChangeConfiguration.fire({ affectsConfiguration: (section) => 'precedent.serverPath'.startsWith(section) });
    await waitFor('not installed', () => item().text === '$(error) precedent: not installed');
    assert.match(String(item().tooltip), /cargo install --path server\/cli.*precedent\.serverPath/);
    const messagesBefore = vscode.messages.length;
    await vscode.stub.commands.executeCommand('precedent.showStatus');
    const shown = vscode.messages.slice(messagesBefore);
    assert.equal(shown.length, 1, JSON.stringify(shown));
    assert.equal(shown[0].kind, 'warning');
    assert.match(shown[0].text, /^precedent: the language server is not installed\. Install it with `cargo install --path server\/cli`/);
  });
});
