// A stand-in for the `vscode` module, just enough for extension.ts and vscode-languageclient
// to start a server under plain Node (VS Code itself cannot be downloaded in the test
// environment). It records what the extension shows; every API it does not model is a
// no-op that returns a disposable.

import * as fs from 'node:fs';
import Module from 'node:module';

type Listener<T> = (event: T) => unknown;

export class EventEmitter<T> {
  private listeners: Listener<T>[] = [];
  readonly event = (listener: Listener<T>): Disposable => {
    this.listeners.push(listener);
    return new Disposable(() => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    });
  };
  fire(event: T): void {
    for (const listener of [...this.listeners]) {
      listener(event);
    }
  }
  dispose(): void {
    this.listeners = [];
  }
}

export class Disposable {
  constructor(private readonly callOnDispose: () => unknown = () => undefined) {}
  static from(...items: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => items.forEach((item) => item.dispose()));
  }
  dispose(): void {
    this.callOnDispose();
  }
}

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly fsPath: string,
  ) {}
  static file(fsPath: string): Uri {
    return new Uri('file', fsPath);
  }
  static parse(value: string): Uri {
    return value.startsWith('file://') ? new Uri('file', decodeURIComponent(value.slice(7))) : new Uri('unknown', value);
  }
  get path(): string {
    return this.fsPath;
  }
  toString(): string {
    return `file://${encodeURI(this.fsPath)}`;
  }
}

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
}

export class Range {
  readonly start: Position;
  readonly end: Position;
  constructor(startLine: number, startCharacter: number, endLine: number, endCharacter: number) {
    this.start = new Position(startLine, startCharacter);
    this.end = new Position(endLine, endCharacter);
  }
}

export class MarkdownString {
  constructor(public value = '') {}
  appendText(text: string): this {
    this.value += text;
    return this;
  }
}

export class CompletionItem {
  constructor(public label: string | { label: string }) {}
}

export class CompletionList {
  constructor(
    readonly items: CompletionItem[] = [],
    readonly isIncomplete = false,
  ) {}
}

export class InlineCompletionItem {
  constructor(
    readonly insertText: string | { value: string },
    readonly range?: Range,
    readonly command?: unknown,
  ) {}
}

export class InlineCompletionList {
  constructor(readonly items: InlineCompletionItem[]) {}
}

export class CancellationTokenSource {
  private readonly emitter = new EventEmitter<void>();
  readonly token = { isCancellationRequested: false, onCancellationRequested: this.emitter.event };
  cancel(): void {
    this.token.isCancellationRequested = true;
    this.emitter.fire();
  }
  dispose(): void {
    this.emitter.dispose();
  }
}

/** Settings by full key (`precedent.k`), as if set in the user's settings.json. */
export const userSettings = new Map<string, unknown>();
/** Defaults by full key, from package.json (setDefaultsFromManifest). */
export const defaultSettings = new Map<string, unknown>();

/** The extension's settings defaults, as VS Code takes them from its package.json. */
export function setDefaultsFromManifest(packageJson: string): void {
  const manifest = JSON.parse(fs.readFileSync(packageJson, 'utf8')) as {
    contributes: { configuration: { properties: Record<string, { default: unknown }> } };
  };
  for (const [key, property] of Object.entries(manifest.contributes.configuration.properties)) {
    defaultSettings.set(key, property.default);
  }
}

export const messages: { kind: 'info' | 'warning' | 'error'; text: string }[] = [];
export const executedCommands: string[] = [];
export const outputLines: string[] = [];
export const statusBarItems: { text: string; tooltip: unknown; command: unknown }[] = [];
export const onDidChangeConfiguration = new EventEmitter<{ affectsConfiguration(section: string): boolean }>();
const commands = new Map<string, (...args: unknown[]) => unknown>();

/** An open document, as much of vscode.TextDocument as vscode-languageclient reads. */
export interface TextDocument {
  uri: Uri;
  languageId: string;
  version: number;
  getText(): string;
}
export const textDocuments: TextDocument[] = [];
const onDidOpenTextDocument = new EventEmitter<TextDocument>();

/** Opens a document as VS Code does (vscode-languageclient sends textDocument/didOpen if it matches). */
export function openTextDocument(fsPath: string, languageId: string, text: string): TextDocument {
  const document = { uri: Uri.file(fsPath), languageId, version: 1, getText: () => text };
  textDocuments.push(document);
  onDidOpenTextDocument.fire(document);
  return document;
}

type DocumentFilter = string | { language?: string; scheme?: string; pattern?: unknown; notebookType?: unknown };

/** vscode.languages.match for the filters vscode-languageclient builds: language and scheme (no glob patterns). */
function match(selector: DocumentFilter | DocumentFilter[], document: TextDocument): number {
  const filters = Array.isArray(selector) ? selector : [selector];
  const matches = (filter: DocumentFilter) =>
    typeof filter === 'string'
      ? filter === document.languageId
      : filter.pattern === undefined &&
        filter.notebookType === undefined &&
        (filter.language ?? filter.scheme) !== undefined &&
        (filter.language === undefined || filter.language === document.languageId) &&
        (filter.scheme === undefined || filter.scheme === document.uri.scheme);
  return filters.some(matches) ? 10 : 0;
}

export interface CompletionProvider {
  provideCompletionItems(
    document: TextDocument,
    position: Position,
    token: CancellationTokenSource['token'],
    context: { triggerKind: number; triggerCharacter?: string },
  ): Promise<CompletionList | CompletionItem[] | null | undefined>;
}
/** What vscode-languageclient registered for the server's completionProvider. */
export const completionProviders: { provider: CompletionProvider; triggerCharacters: string[] }[] = [];

export interface InlineCompletionProvider {
  provideInlineCompletionItems(
    document: TextDocument,
    position: Position,
    context: { triggerKind: number; selectedCompletionInfo: undefined },
    token: CancellationTokenSource['token'],
  ): Promise<InlineCompletionList | InlineCompletionItem[] | null | undefined>;
}
/** What vscode-languageclient registered for the server's inlineCompletionProvider (ghost text). */
export const inlineCompletionProviders: InlineCompletionProvider[] = [];

function getConfiguration(section?: string) {
  const full = (key: string) => (section ? `${section}.${key}` : key);
  return {
    get<T>(key: string, fallback?: T): T | undefined {
      const name = full(key);
      const nested = [...userSettings.keys(), ...defaultSettings.keys()].filter((k) => k.startsWith(`${name}.`));
      if (nested.length > 0 && !userSettings.has(name) && !defaultSettings.has(name)) {
        // A section: VS Code returns the nested object.
        const result: Record<string, unknown> = {};
        for (const k of nested) {
          const parts = k.slice(name.length + 1).split('.');
          let target = result;
          for (const part of parts.slice(0, -1)) {
            target = (target[part] ??= {}) as Record<string, unknown>;
          }
          target[parts[parts.length - 1]] = userSettings.has(k) ? userSettings.get(k) : defaultSettings.get(k);
        }
        return result as T;
      }
      if (userSettings.has(name)) {
        return userSettings.get(name) as T;
      }
      return defaultSettings.has(name) ? (defaultSettings.get(name) as T) : fallback;
    },
    inspect(key: string) {
      const name = full(key);
      return { key: name, defaultValue: defaultSettings.get(name), globalValue: userSettings.get(name) };
    },
    has(key: string): boolean {
      return userSettings.has(full(key)) || defaultSettings.has(full(key));
    },
    update(): Promise<void> {
      return Promise.resolve();
    },
  };
}

function outputChannel(name: string) {
  let partial = '';
  return {
    name,
    append(text: string) {
      partial += text;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      outputLines.push(...lines);
    },
    appendLine(text: string) {
      outputLines.push(...(partial + text).split('\n'));
      partial = '';
    },
    replace() {},
    clear() {},
    show() {},
    hide() {},
    dispose() {},
  };
}

function show(kind: 'info' | 'warning' | 'error') {
  return (text: string): Promise<undefined> => {
    messages.push({ kind, text });
    return Promise.resolve(undefined);
  };
}

// Everything not modelled: any property is a function returning a disposable, or an enum value.
// It is also a class (vscode-languageclient extends some of VS Code's classes).
function anything(name: string): unknown {
  const fn = function (): unknown {
    return new.target === undefined ? new Disposable() : undefined;
  };
  return new Proxy(fn, {
    get: (target, property) => {
      if (property === 'then') {
        return undefined; // not a promise
      }
      return property in target ? (Reflect.get(target, property) as unknown) : anything(`${name}.${String(property)}`);
    },
  });
}

function withFallback<T extends object>(name: string, known: T): T {
  return new Proxy(known, {
    get: (target, property) => (property in target ? (target as Record<PropertyKey, unknown>)[property] : anything(`${name}.${String(property)}`)),
  });
}

const noEvent = () => new Disposable();

export const stub = withFallback('vscode', {
  version: '1.90.0',
  EventEmitter,
  Disposable,
  Uri,
  CancellationTokenSource,
  Position,
  Range,
  MarkdownString,
  CompletionItem,
  CompletionList,
  InlineCompletionItem,
  InlineCompletionList,
  CompletionTriggerKind: { Invoke: 0, TriggerCharacter: 1, TriggerForIncompleteCompletions: 2 },
  StatusBarAlignment: { Left: 1, Right: 2 },
  env: withFallback('env', { language: 'en', appName: 'vscode-stub', uiKind: 1 }),
  workspace: withFallback('workspace', {
    workspaceFolders: undefined as { uri: Uri; name: string; index: number }[] | undefined,
    textDocuments,
    notebookDocuments: [],
    getConfiguration,
    onDidChangeConfiguration: onDidChangeConfiguration.event,
    onDidOpenTextDocument: onDidOpenTextDocument.event,
    onDidCloseTextDocument: noEvent,
    onDidChangeTextDocument: noEvent,
    onDidSaveTextDocument: noEvent,
    onWillSaveTextDocument: noEvent,
    onDidChangeWorkspaceFolders: noEvent,
    // The real server registers watchers (precedent.toml, corpus folders); nothing changes here.
    createFileSystemWatcher: () => ({ onDidCreate: noEvent, onDidChange: noEvent, onDidDelete: noEvent, dispose() {} }),
  }),
  window: withFallback('window', {
    activeTextEditor: undefined,
    visibleTextEditors: [],
    tabGroups: { all: [], onDidChangeTabs: noEvent, onDidChangeTabGroups: noEvent },
    createOutputChannel: outputChannel,
    createStatusBarItem() {
      const item = { text: '', tooltip: undefined as unknown, command: undefined as unknown, name: '', show() {}, hide() {}, dispose() {} };
      statusBarItems.push(item);
      return item;
    },
    showInformationMessage: show('info'),
    showWarningMessage: show('warning'),
    showErrorMessage: show('error'),
    onDidChangeActiveTextEditor: noEvent,
    onDidChangeVisibleTextEditors: noEvent,
  }),
  languages: withFallback('languages', {
    match,
    registerCompletionItemProvider(_selector: unknown, provider: CompletionProvider, ...triggerCharacters: string[]): Disposable {
      const entry = { provider, triggerCharacters };
      completionProviders.push(entry);
      return new Disposable(() => completionProviders.splice(completionProviders.indexOf(entry), 1));
    },
    registerInlineCompletionItemProvider(_selector: unknown, provider: InlineCompletionProvider): Disposable {
      inlineCompletionProviders.push(provider);
      return new Disposable(() => inlineCompletionProviders.splice(inlineCompletionProviders.indexOf(provider), 1));
    },
    createDiagnosticCollection: () => withFallback('diagnostics', { set() {}, delete() {}, clear() {}, dispose() {} }),
  }),
  commands: {
    registerCommand(id: string, handler: (...args: unknown[]) => unknown): Disposable {
      if (commands.has(id)) {
        throw new Error(`command '${id}' already exists`);
      }
      commands.set(id, handler);
      return new Disposable(() => commands.delete(id));
    },
    executeCommand(id: string, ...args: unknown[]): Promise<unknown> {
      executedCommands.push(id);
      const handler = commands.get(id);
      return Promise.resolve(handler === undefined ? undefined : handler(...args));
    },
    getCommands: () => Promise.resolve([...commands.keys()]),
  },
});

/** Makes `require('vscode')` return the stub, from here on. */
export function installStub(): void {
  const loader = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
  const load = loader._load;
  loader._load = function (request: string, ...rest: unknown[]) {
    return request === 'vscode' ? stub : load.call(this, request, ...rest);
  };
}
