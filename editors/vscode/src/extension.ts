// Activation: starts `precedent serve` through vscode-languageclient, and adds the commands
// and the status bar item. The protocol is in server/lsp/PROTOCOL.md.

import * as os from 'node:os';
import * as vscode from 'vscode';
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  State,
  type LanguageClientOptions,
  type ServerOptions,
} from 'vscode-languageclient/node';
import { findServer } from './serverPath';
import { SERVER_SETTING_KEYS, documentSelector, explicitValue, toServerSettings, type ServerSettings } from './settings';
import { normalizeStatus, statusBarView, statusDetails, statusSummary, type ClientState, type ServerStatus } from './status';

const SECTION = 'precedent';
const STATUS_REQUEST = 'precedent/status';
const STATUS_NOTIFICATION = 'precedent/statusChanged';
// The server advertises `precedent.reindex` and vscode-languageclient registers that id as a
// VS Code command itself, so the palette command has its own id and forwards to it.
const SERVER_REINDEX = 'precedent.reindex';
// Settings read when the client is created: changing them needs a new client. The server
// loads its model once, at start (server/lsp/src/background/model.rs), so modelPath too.
const RESTART_SETTINGS = ['serverPath', 'serverArgs', 'modelPath', 'languages', 'filePatterns'].map((key) => `${SECTION}.${key}`);
const INSTALL_HELP =
  'Install it with `cargo install --path server/cli` from the precedent repository ' +
  '(~/.cargo/bin must be on the PATH VS Code starts with), or set precedent.serverPath to the binary.';

let client: LanguageClient | undefined;
let output: vscode.OutputChannel;
let statusItem: vscode.StatusBarItem;
let clientState: ClientState = 'starting';
let lastStatus: ServerStatus | undefined;
// Start and stop one at a time, whatever order settings changes and commands come in.
let lifecycle: Promise<void> = Promise.resolve();

export function activate(context: vscode.ExtensionContext): void {
  output = vscode.window.createOutputChannel('precedent');
  statusItem = vscode.window.createStatusBarItem('precedent.status', vscode.StatusBarAlignment.Right, 100);
  statusItem.name = 'precedent';
  statusItem.command = 'precedent.showStatus';
  updateStatusBar();
  statusItem.show();

  context.subscriptions.push(
    output,
    statusItem,
    vscode.commands.registerCommand('precedent.reindexCorpus', reindexCorpus),
    vscode.commands.registerCommand('precedent.showStatus', showStatus),
    vscode.commands.registerCommand('precedent.showEvidence', () =>
      // The server's hover is the evidence; this only makes it reachable from the palette.
      vscode.commands.executeCommand('editor.action.showHover'),
    ),
    vscode.commands.registerCommand('precedent.restartServer', restartServer),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (RESTART_SETTINGS.some((key) => event.affectsConfiguration(key))) {
        void restartServer();
      }
    }),
  );
  // Not awaited: loading the model takes a while, and the status bar says "starting" meanwhile.
  void queue(startClient);
}

export function deactivate(): Promise<void> {
  return queue(stopClient);
}

function queue(step: () => Promise<void>): Promise<void> {
  lifecycle = lifecycle.then(step, step);
  return lifecycle;
}

function restartServer(): Promise<void> {
  return queue(async () => {
    await stopClient();
    await startClient();
  });
}

/** The server settings the user set (not VS Code's defaults), nested as the server reads them. */
function serverSettings(scope?: vscode.Uri): ServerSettings {
  const config = vscode.workspace.getConfiguration(SECTION, scope);
  const flat: Record<string, unknown> = {};
  for (const key of SERVER_SETTING_KEYS) {
    flat[key] = explicitValue(config.inspect(key));
  }
  return toServerSettings(flat);
}

async function startClient(): Promise<void> {
  const config = vscode.workspace.getConfiguration(SECTION);
  const setting = config.get<string>('serverPath', 'precedent');
  const command = findServer(setting, {
    path: process.env.PATH,
    pathExt: process.env.PATHEXT,
    platform: process.platform,
    home: os.homedir(),
    cwd: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
  });
  if (command === undefined) {
    setClientState('notFound');
    output.appendLine(`precedent: cannot find the server "${setting}" (precedent.serverPath). ${INSTALL_HELP}`);
    // Not awaited: activation must not wait for the user to close the message.
    void vscode.window
      .showErrorMessage(`precedent: cannot find the language server "${setting}". ${INSTALL_HELP}`, 'Open Settings')
      .then((choice) => {
        if (choice !== undefined) {
          void vscode.commands.executeCommand('workbench.action.openSettings', 'precedent.serverPath');
        }
      });
    return;
  }

  const serverArgs = config.get<unknown[]>('serverArgs', []).filter((arg): arg is string => typeof arg === 'string');
  // The working directory is vscode-languageclient's default: the first workspace folder.
  const serverOptions: ServerOptions = { command, args: ['serve', ...serverArgs] };
  const clientOptions: LanguageClientOptions = {
    documentSelector: documentSelector(config.get('languages'), config.get('filePatterns')),
    diagnosticCollectionName: 'precedent',
    outputChannel: output,
    initializationOptions: () => serverSettings(),
    synchronize: { configurationSection: SECTION },
    middleware: {
      workspace: {
        // vscode-languageclient would send VS Code's whole section, defaults and nulls
        // included; send the same object as initializationOptions instead.
        didChangeConfiguration: async () => {
          try {
            await newClient.sendNotification(DidChangeConfigurationNotification.type, {
              settings: { [SECTION]: serverSettings() },
            });
          } catch (error) {
            // A change of serverPath etc. also stops this client (restartServer) while the
            // notification is on its way: only a failure of the current client matters.
            if (client === newClient) {
              throw error;
            }
          }
        },
        // Likewise when the server asks for the section (workspace/configuration).
        configuration: async (params, token, next) => {
          const result = await next(params, token);
          if (!Array.isArray(result)) {
            return result;
          }
          return result.map((value: unknown, i) => {
            const item = params.items[i];
            if (item?.section !== SECTION) {
              return value;
            }
            return serverSettings(item.scopeUri === undefined ? undefined : vscode.Uri.parse(item.scopeUri));
          });
        },
      },
    },
  };

  const newClient = new LanguageClient('precedent', 'precedent', serverOptions, clientOptions);
  // Ghost text (LSP 3.18 textDocument/inlineCompletion) is a proposed feature in
  // vscode-languageclient 9; VS Code shows it where editor.inlineSuggest.enabled is on.
  newClient.registerProposedFeatures();
  client = newClient;
  newClient.onDidChangeState((event) => {
    if (client !== newClient) {
      return;
    }
    if (event.newState === State.Running) {
      setClientState('running');
      void refreshStatus(newClient);
    } else if (event.newState === State.Starting) {
      setClientState('starting');
    } else {
      setClientState('stopped');
    }
  });
  newClient.onNotification(STATUS_NOTIFICATION, (raw: unknown) => {
    if (client === newClient) {
      lastStatus = normalizeStatus(raw);
      updateStatusBar();
    }
  });

  setClientState('starting');
  try {
    await newClient.start();
  } catch (error) {
    // vscode-languageclient has already shown the error; keep the reason in the output.
    output.appendLine(`precedent: the language server did not start: ${errorMessage(error)}`);
    if (client === newClient) {
      setClientState('stopped');
    }
  }
}

async function stopClient(): Promise<void> {
  const old = client;
  client = undefined;
  lastStatus = undefined;
  if (old !== undefined) {
    try {
      await old.dispose();
    } catch (error) {
      output.appendLine(`precedent: stopping the language server failed: ${errorMessage(error)}`);
    }
  }
}

function setClientState(state: ClientState): void {
  clientState = state;
  if (state !== 'running') {
    lastStatus = undefined;
  }
  updateStatusBar();
}

function updateStatusBar(): void {
  const view = statusBarView(clientState, lastStatus);
  statusItem.text = view.text;
  statusItem.tooltip = view.tooltip;
}

async function requestStatus(from: LanguageClient): Promise<ServerStatus> {
  return normalizeStatus(await from.sendRequest<unknown>(STATUS_REQUEST));
}

async function refreshStatus(from: LanguageClient): Promise<void> {
  try {
    const status = await requestStatus(from);
    if (client === from) {
      lastStatus = status;
      updateStatusBar();
    }
  } catch (error) {
    output.appendLine(`precedent: ${STATUS_REQUEST} failed: ${errorMessage(error)}`);
  }
}

/** The running client, or undefined after telling the user why there is none. */
function runningClient(): LanguageClient | undefined {
  if (client !== undefined && client.state === State.Running) {
    return client;
  }
  const reason =
    clientState === 'notFound'
      ? `precedent: the language server is not installed. ${INSTALL_HELP}`
      : clientState === 'starting'
        ? 'precedent: the language server is still starting.'
        : 'precedent: the language server is not running. Its output says why.';
  void vscode.window.showWarningMessage(reason, 'Show Output', 'Restart Server').then((choice) => {
    if (choice === 'Show Output') {
      output.show(true);
    } else if (choice === 'Restart Server') {
      void restartServer();
    }
  });
  return undefined;
}

async function showStatus(): Promise<void> {
  const running = runningClient();
  if (running === undefined) {
    return;
  }
  try {
    const status = await requestStatus(running);
    lastStatus = status;
    updateStatusBar();
    output.appendLine(`precedent status (${new Date().toISOString()}):`);
    output.appendLine(statusDetails(status));
    const choice = await vscode.window.showInformationMessage(statusSummary(status), 'Show Details');
    if (choice !== undefined) {
      output.show(true);
    }
  } catch (error) {
    void vscode.window.showErrorMessage(`precedent: could not get the status: ${errorMessage(error)}`);
  }
}

async function reindexCorpus(): Promise<void> {
  const running = runningClient();
  if (running === undefined) {
    return;
  }
  try {
    // Progress arrives as window/workDoneProgress, which vscode-languageclient shows.
    await running.sendRequest(ExecuteCommandRequest.type, { command: SERVER_REINDEX });
  } catch (error) {
    void vscode.window.showErrorMessage(`precedent: reindexing failed: ${errorMessage(error)}`);
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
