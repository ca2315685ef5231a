// VS Code settings -> what the server reads (server/lsp/PROTOCOL.md, "Settings").
// Pure: no `vscode` import, so the unit tests run under plain Node.

/** The server's settings, as VS Code names them under `precedent.` (dots = nesting). */
export const SERVER_SETTING_KEYS = [
  'modelPath',
  'indexPaths',
  'corpus',
  'corpusIndexPath',
  'k',
  'lambda',
  'temperature',
  'documentCache',
  'documentCacheSkipRecent',
  'languages',
  'filePatterns',
  'completion.enabled',
  'completion.maxItems',
  'completion.phraseWords',
  'completion.phraseMinProbability',
  'hover.enabled',
  'hints.enabled',
  'hints.severity',
  'hints.minPreferredProbability',
  'hints.minRatio',
  'hints.maxFluencyLoss',
  'hints.maxPerDocument',
  'hints.docsUrl',
] as const;

/** Settings only the extension uses (how to start the server); never sent to it. */
export const CLIENT_SETTING_KEYS = ['serverPath', 'serverArgs'] as const;

export type ServerSettings = { [key: string]: unknown };

/**
 * Flat `{ 'completion.maxItems': 5, k: null, ... }` -> nested `{ completion: { maxItems: 5 } }`,
 * the shape of `initializationOptions` and of `settings.precedent` in didChangeConfiguration.
 * null and undefined are dropped, so the server falls back to `precedent.toml`, the index
 * or its own default; keys the server does not know are dropped too.
 */
export function toServerSettings(flat: Readonly<Record<string, unknown>>): ServerSettings {
  const result: ServerSettings = {};
  for (const key of SERVER_SETTING_KEYS) {
    const value = flat[key];
    if (value === null || value === undefined) {
      continue;
    }
    const parts = key.split('.');
    const last = parts.pop() as string;
    let target = result;
    for (const part of parts) {
      const child = target[part];
      if (typeof child !== 'object' || child === null) {
        target[part] = {};
      }
      target = target[part] as ServerSettings;
    }
    target[last] = value;
  }
  return result;
}

/** The levels of one setting, as `WorkspaceConfiguration.inspect` returns them. */
export interface InspectedSetting {
  defaultValue?: unknown;
  globalValue?: unknown;
  workspaceValue?: unknown;
  workspaceFolderValue?: unknown;
}

/**
 * The value the user set at the most specific level, or undefined if it was never set.
 * VS Code's defaults are deliberately not sent: the client layer overrides `precedent.toml`
 * key by key, so sending every default would silently override a team's precedent.toml.
 */
export function explicitValue(inspected: InspectedSetting | undefined): unknown {
  if (inspected === undefined) {
    return undefined;
  }
  if (inspected.workspaceFolderValue !== undefined) {
    return inspected.workspaceFolderValue;
  }
  if (inspected.workspaceValue !== undefined) {
    return inspected.workspaceValue;
  }
  return inspected.globalValue;
}

/** A document filter as vscode-languageclient takes it. */
export interface DocumentFilterSpec {
  scheme: string;
  language?: string;
  pattern?: string;
}

/**
 * Documents the client syncs to the server: each language on disk and in untitled editors,
 * and files matching `filePatterns` whatever their language (the server acts on those too,
 * but only sees the documents the client sends it).
 */
export function documentSelector(languages: unknown, filePatterns: unknown): DocumentFilterSpec[] {
  const selector: DocumentFilterSpec[] = [];
  for (const language of uniqueStrings(languages)) {
    selector.push({ scheme: 'file', language }, { scheme: 'untitled', language });
  }
  for (const pattern of uniqueStrings(filePatterns)) {
    selector.push({ scheme: 'file', pattern });
  }
  return selector;
}

// Settings can hold anything a user typed into settings.json: keep the non-empty strings.
function uniqueStrings(value: unknown): string[] {
  if (!Array.isArray(value)) {
    return [];
  }
  const strings = value.filter((item): item is string => typeof item === 'string' && item.trim() !== '');
  return [...new Set(strings.map((item) => item.trim()))];
}
