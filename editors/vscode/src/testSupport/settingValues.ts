// The contributed settings (package.json) as the round-trip tests use them: a non-default
// value for each, checked against the setting's own schema, and the server's names and kinds
// of setting from server/lsp/src/config/table.rs, the server's single declaration of them.

import { isDeepStrictEqual } from 'node:util';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { extensionRoot, serverSource } from './repo';

export interface SettingSchema {
  type: string | string[];
  default: unknown;
  items?: { type: string };
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
}

/** contributes.configuration.properties of package.json, read now: a new setting cannot be missed. */
export function contributedSettings(): Record<string, SettingSchema> {
  const manifest = JSON.parse(fs.readFileSync(path.join(extensionRoot, 'package.json'), 'utf8')) as {
    contributes: { configuration: { properties: Record<string, SettingSchema> } };
  };
  return manifest.contributes.configuration.properties;
}

/**
 * Settings that only the extension reads, with why they are never sent to the server. A
 * contributed setting that is neither here nor a server setting fails the round-trip tests.
 */
export const CLIENT_ONLY: Record<string, string> = {
  'precedent.serverPath': 'which program the extension starts; the server does not choose itself',
  'precedent.serverArgs': "the server's command line (after `serve`), not a setting it reads",
};

/** Paths the server needs to exist; the stand-in server does not look at them. */
export interface Places {
  serverPath: string;
  serverArgs: string[];
  model: string;
  index: string;
  corpus: string;
  corpusIndex: string;
}

/**
 * A value for every contributed setting that differs from its default (VS Code's and the
 * server's), valid for its schema and for the server. Chosen so that the server's status can
 * show it where it reports the setting back (the kNN parameters differ from what an index
 * saves: k 64, λ 0.15, T 2, document cache on, 4 skipped).
 */
export function nonDefaultValues(places: Places): Record<string, unknown> {
  return {
    'precedent.serverPath': places.serverPath,
    'precedent.serverArgs': places.serverArgs,
    'precedent.modelPath': places.model,
    'precedent.indexPaths': [places.index],
    'precedent.corpus': [places.corpus],
    'precedent.corpusIndexPath': places.corpusIndex,
    'precedent.k': 7,
    'precedent.lambda': 0.9,
    'precedent.temperature': 1.5,
    'precedent.documentCache': false,
    'precedent.documentCacheSkipRecent': 2,
    'precedent.languages': ['markdown', 'plaintext'],
    'precedent.filePatterns': ['**/*.notes'],
    'precedent.completion.enabled': false,
    'precedent.completion.maxItems': 3,
    'precedent.completion.phraseWords': 0,
    'precedent.completion.phraseMinProbability': 0.75,
    'precedent.hover.enabled': false,
    'precedent.hints.enabled': false,
    'precedent.hints.severity': 'warning',
    'precedent.hints.minPreferredProbability': 0.45,
    'precedent.hints.minRatio': 12.5,
    'precedent.hints.maxFluencyLoss': 40.5,
    'precedent.hints.maxPerDocument': 5,
    'precedent.hints.docsUrl': 'https://wiki.example.com/style#{kind}',
  };
}

/** The JSON type of a value as a settings schema names it ("integer" for whole numbers). */
export function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number' && Number.isInteger(value)) return 'integer';
  return typeof value;
}

/** Whether a value is of one of these schema types (a whole number is a number too). */
export function admits(types: string[], value: unknown): boolean {
  const type = jsonType(value);
  return types.includes(type) || (type === 'integer' && types.includes('number'));
}

/** Why `value` is not a valid non-default value of the setting, or undefined if it is. */
export function schemaProblem(schema: SettingSchema, value: unknown): string | undefined {
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  const type = jsonType(value);
  if (!admits(types, value)) {
    return `${JSON.stringify(value)} is ${type}, not ${types.join(' | ')}`;
  }
  if (value === null || isDeepStrictEqual(value, schema.default)) {
    return `${JSON.stringify(value)} is the default`;
  }
  if (Array.isArray(value) && schema.items !== undefined && !value.every((item) => jsonType(item) === schema.items?.type)) {
    return `items of ${JSON.stringify(value)} are not all ${schema.items.type}`;
  }
  if (schema.enum !== undefined && !schema.enum.includes(value)) {
    return `${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`;
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) return `${value} < minimum ${schema.minimum}`;
    if (schema.maximum !== undefined && value > schema.maximum) return `${value} > maximum ${schema.maximum}`;
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) return `${value} <= exclusiveMinimum ${schema.exclusiveMinimum}`;
  }
  return undefined;
}

/** A value of a type the setting does not take (a user can type anything into settings.json). */
export function wrongTypeValue(schema: SettingSchema): unknown {
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  return types.includes('string') || types.includes('array') ? 7 : `not ${types.join(' or ')}`;
}

/** The JSON types the server's kinds of setting (`Kind::…` in table.rs) take, besides null. */
const KIND_TYPES: Record<string, string[]> = {
  Bool: ['boolean'],
  IndexBool: ['boolean'],
  Integer: ['integer'],
  IndexInteger: ['integer'],
  Number: ['number'],
  IndexNumber: ['number'],
  Ratio: ['number'],
  Severity: ['string'],
  OptionalPath: ['string'],
  DocsUrl: ['string'],
  // "A string or a list of them".
  Strings: ['array', 'string'],
  Paths: ['array', 'string'],
  Patterns: ['array', 'string'],
};

/**
 * The server's settings, `{ key: kind }` in declaration order, from table.rs (keys are
 * dotted: `hints.minRatio`); undefined outside a precedent checkout.
 */
export function serverSettingKinds(): Map<string, string> | undefined {
  const source = serverSource(path.join('lsp', 'src', 'config', 'table.rs'));
  if (source === undefined) {
    return undefined;
  }
  const kinds = new Map<string, string>();
  for (const match of source.matchAll(/^\s*key: "([^"]+)",\s*kind: Kind::(\w+)/gm)) {
    kinds.set(match[1], match[2]);
  }
  return kinds;
}

/** The JSON types of a server kind, or undefined for a kind this file does not know yet. */
export function kindTypes(kind: string): string[] | undefined {
  return KIND_TYPES[kind];
}

/** `obj.a.b` for the dotted key `a.b`, or undefined. */
export function atPath(obj: unknown, dotted: string): unknown {
  let value = obj;
  for (const part of dotted.split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return undefined;
    }
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** The dotted keys of the leaves of a nested settings object: `{ hints: { minRatio } }` -> `hints.minRatio`. */
export function leafKeys(obj: unknown, prefix = ''): string[] {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    return [prefix];
  }
  return Object.entries(obj).flatMap(([key, value]) => leafKeys(value, prefix === '' ? key : `${prefix}.${key}`));
}
