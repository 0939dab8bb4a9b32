/**
 * Reading manifests as `flotctl apply -f` takes them: a file, a directory
 * (its .yaml/.yml/.json files, sorted), or `-` for standard input; each
 * file may hold several YAML documents. Every problem names the file, the
 * document and the line, so a user can go straight to it.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeObject } from '@flotilla/api';
import { parseAllDocuments } from 'yaml';

/** One object read from a manifest, with where it came from. */
export interface ManifestObject {
  object: KubeObject;
  /** The file (or `<stdin>`). */
  source: string;
  /** 1-based index of the document in its file. */
  document: number;
  /** 1-based line where the document starts. */
  line: number;
}

/** A manifest that cannot be used; the message names file, document and line. */
export class ManifestError extends Error {
  constructor(
    readonly source: string,
    readonly document: number,
    readonly line: number,
    detail: string,
  ) {
    super(`${source}: document ${document} (line ${line}): ${detail}`);
    this.name = 'ManifestError';
  }
}

const MANIFEST_EXT = /\.(ya?ml|json)$/i;

/** The files a `-f` argument stands for: the file itself, or a directory's manifests (not recursive, as kubectl). */
export function manifestFiles(path: string): string[] {
  if (path === '-') return ['-'];
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new Error(`the path "${path}" does not exist`);
  }
  if (!st.isDirectory()) return [path];
  return readdirSync(path)
    .filter((f) => MANIFEST_EXT.test(f))
    .sort()
    .map((f) => join(path, f));
}

/** Line number (1-based) of a character offset. */
function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i += 1) if (text.charCodeAt(i) === 10) line += 1;
  return line;
}

/**
 * Parses one file's text into objects. `kind: List` documents are
 * flattened (kubectl does the same); empty documents are skipped.
 */
export function parseManifests(text: string, source: string): ManifestObject[] {
  const out: ManifestObject[] = [];
  const docs = parseAllDocuments(text);
  // parseAllDocuments returns an EmptyStream for empty input.
  if (!Array.isArray(docs)) return out;
  docs.forEach((doc, i) => {
    const document = i + 1;
    const start = doc.range?.[0] ?? 0;
    const firstContent = doc.contents?.range?.[0] ?? start;
    const line = lineAt(text, firstContent);
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      const errLine = e.linePos?.[0]?.line ?? line;
      throw new ManifestError(source, document, errLine, `YAML: ${e.message.split('\n')[0]}`);
    }
    const value = doc.toJS({ maxAliasCount: 100 }) as unknown;
    if (value === null || value === undefined) return;
    const objects = isList(value) ? (value as { items: unknown[] }).items : [value];
    for (const obj of objects) out.push({ object: checkObject(obj, source, document, line), source, document, line });
  });
  return out;
}

function isList(v: unknown): boolean {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'List' && Array.isArray((v as { items?: unknown }).items);
}

function checkObject(v: unknown, source: string, document: number, line: number): KubeObject {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ManifestError(source, document, line, 'not an object (expected a mapping with apiVersion, kind and metadata)');
  const o = v as Partial<KubeObject> & Record<string, unknown>;
  if (typeof o.apiVersion !== 'string' || o.apiVersion === '') throw new ManifestError(source, document, line, 'apiVersion is not set');
  if (typeof o.kind !== 'string' || o.kind === '') throw new ManifestError(source, document, line, 'kind is not set');
  const md = o.metadata as { name?: unknown; generateName?: unknown } | undefined;
  if (typeof md !== 'object' || md === null) throw new ManifestError(source, document, line, 'metadata is not set');
  if (typeof md.name !== 'string' || md.name === '') {
    if (typeof md.generateName !== 'string' || md.generateName === '') throw new ManifestError(source, document, line, 'metadata.name is not set');
  }
  return o as KubeObject;
}

/** Reads every object of every `-f` argument; `stdin` supplies the text of `-`. */
export function readManifests(paths: string[], stdin: () => string = () => readFileSync(0, 'utf8')): ManifestObject[] {
  const out: ManifestObject[] = [];
  for (const p of paths) {
    for (const file of manifestFiles(p)) {
      const text = file === '-' ? stdin() : readFileSync(file, 'utf8');
      out.push(...parseManifests(text, file === '-' ? '<stdin>' : file));
    }
  }
  return out;
}
