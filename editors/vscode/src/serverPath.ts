// Finding the `precedent` binary before starting it, so that a missing binary gets a message
// that says what to do instead of a spawn error. No `vscode` import: unit-tested under Node.

import * as fs from 'node:fs';
import * as path from 'node:path';

export interface LookupEnv {
  /** PATH of the extension host. */
  path: string | undefined;
  /** PATHEXT (Windows only). */
  pathExt?: string;
  platform: NodeJS.Platform;
  home: string;
  /** Base of relative paths with a directory part (the first workspace folder). */
  cwd?: string;
}

export const DEFAULT_SERVER_COMMAND = 'precedent';

/**
 * The absolute path of the server binary named by `precedent.serverPath`, or undefined
 * if there is none: a bare name is looked up on PATH, a path with a directory part is taken
 * as is (`~` expanded, relative to `cwd`).
 */
export function findServer(
  setting: string | undefined,
  env: LookupEnv,
  isExecutable: (file: string) => boolean = isExecutableFile,
): string | undefined {
  const paths = env.platform === 'win32' ? path.win32 : path.posix;
  let command = (setting ?? '').trim() || DEFAULT_SERVER_COMMAND;
  if (command === '~' || command.startsWith('~/') || (env.platform === 'win32' && command.startsWith('~\\'))) {
    command = paths.join(env.home, command.slice(1));
  }
  const extensions = windowsExtensions(command, env);

  const hasDirectory = command.includes('/') || (env.platform === 'win32' && command.includes('\\'));
  if (hasDirectory) {
    if (!paths.isAbsolute(command)) {
      if (env.cwd === undefined) {
        return undefined;
      }
      command = paths.resolve(env.cwd, command);
    }
    return extensions.map((ext) => command + ext).find(isExecutable);
  }

  const delimiter = env.platform === 'win32' ? ';' : ':';
  for (const dir of (env.path ?? '').split(delimiter)) {
    // An empty PATH entry means the current directory: never run a binary from there.
    if (dir === '' || !paths.isAbsolute(dir)) {
      continue;
    }
    const found = extensions.map((ext) => paths.join(dir, command + ext)).find(isExecutable);
    if (found !== undefined) {
      return found;
    }
  }
  return undefined;
}

// On Windows `precedent` is `precedent.exe`: try PATHEXT unless the name has an extension.
function windowsExtensions(command: string, env: LookupEnv): string[] {
  if (env.platform !== 'win32' || path.win32.extname(command) !== '') {
    return [''];
  }
  const exts = (env.pathExt ?? '.COM;.EXE;.BAT;.CMD').split(';').filter((ext) => ext !== '');
  return exts.map((ext) => ext.toLowerCase());
}

export function isExecutableFile(file: string): boolean {
  try {
    if (!fs.statSync(file).isFile()) {
      return false;
    }
    if (process.platform !== 'win32') {
      fs.accessSync(file, fs.constants.X_OK);
    }
    return true;
  } catch {
    return false;
  }
}
