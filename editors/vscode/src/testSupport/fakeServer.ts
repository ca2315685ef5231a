// A stand-in for `precedent serve` in the client test: speaks the part of PROTOCOL.md the
// extension uses and records every message it receives, one JSON object a line, in the file
// after `--record`.

import * as fs from 'node:fs';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';

const record = process.argv[process.argv.indexOf('--record') + 1];
const log = (method: string, params: unknown) => fs.appendFileSync(record, JSON.stringify({ method, params }) + '\n');
log('argv', process.argv.slice(2));

export const exampleStatus = {
  model: 'SmolLM2-135M-Instruct (q4)',
  modelError: null,
  indexes: [{ path: '/abs/team.index', entries: 109527, documents: 412, modified: '2026-11-26T16:00:00Z' }],
  indexing: false,
  lastUpdate: '2026-11-26T16:00:00Z',
  k: 64,
  lambda: 0.4,
  temperature: 2.0,
  documentCache: true,
};

// What precedent/status answers: exampleStatus until a test sets another with `fake.setStatus`.
let currentStatus: unknown = exampleStatus;

const connection = createMessageConnection(new StreamMessageReader(process.stdin), new StreamMessageWriter(process.stdout));

connection.onRequest('initialize', (params: unknown) => {
  log('initialize', params);
  return {
    capabilities: {
      textDocumentSync: 2,
      completionProvider: { triggerCharacters: [' '] },
      hoverProvider: true,
      executeCommandProvider: { commands: ['precedent.reindex', 'precedent.ignoreHere', 'precedent.ignoreInWorkspace', 'fake.setStatus'] },
    },
    serverInfo: { name: 'fake precedent' },
  };
});

connection.onNotification('initialized', () => {
  log('initialized', null);
  connection
    .sendRequest('workspace/configuration', { items: [{ section: 'precedent' }] })
    .then((settings: unknown) => log('workspace/configuration result', settings))
    .catch((error: unknown) => log('workspace/configuration error', String(error)));
});

connection.onRequest('precedent/status', () => {
  log('precedent/status', null);
  return currentStatus;
});

connection.onRequest('workspace/executeCommand', (params: { command: string; arguments?: unknown[] }) => {
  log('workspace/executeCommand', params);
  // For the tests: the server's status becomes the argument, announced as the real server does.
  if (params.command === 'fake.setStatus') {
    currentStatus = params.arguments?.[0];
    void connection.sendNotification('precedent/statusChanged', currentStatus);
  }
  if (params.command === 'precedent.reindex') {
    void connection.sendNotification('precedent/statusChanged', { ...exampleStatus, indexing: true });
  }
  return null;
});

connection.onNotification((method: string, params: unknown) => log(method, params));
connection.onRequest('shutdown', () => {
  log('shutdown', null);
  return null;
});
connection.onNotification('exit', () => {
  log('exit', null);
  process.exit(0);
});
connection.listen();
