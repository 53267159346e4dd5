import * as fs from 'node:fs';
import { Attributes, formatPrompt, parsePrompt } from './prompt';

/** One prompt of a prompts file. */
export interface PromptLine {
  /** 1-based line number in the file. */
  line: number;
  /** The canonical prompt (`formatPrompt` of the parsed line). */
  prompt: string;
  /** The line as written, trimmed. */
  text: string;
  attributes: Attributes;
}

/**
 * Parse a prompts file: one prompt per line; blank lines and lines starting
 * with # are skipped. Every line is parsed before any is used; the first bad
 * line throws `FILE:LINE: <why>`.
 */
export function readPromptsFile(file: string): PromptLine[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new Error(`cannot read prompts file ${file}`);
  }
  const out: PromptLine[] = [];
  text.split(/\r?\n/).forEach((raw, k) => {
    const s = raw.trim();
    if (s === '' || s.startsWith('#')) return;
    let attributes: Attributes;
    try {
      attributes = parsePrompt(s);
    } catch (e) {
      throw new Error(`${file}:${k + 1}: ${(e as Error).message}`);
    }
    out.push({ line: k + 1, prompt: formatPrompt(attributes), text: s, attributes });
  });
  if (out.length === 0) throw new Error(`${file}: no prompts (one per line; blank lines and # comments are skipped)`);
  return out;
}
