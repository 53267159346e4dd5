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

/** Most bad lines one error names (the count of the rest follows). */
const MAX_REPORTED = 20;

/**
 * Parse a prompts file: one prompt per line; blank lines and lines starting
 * with # are skipped. Every line is parsed before any is used, and every bad
 * line is reported at once, in one line:
 * `FILE:3: <why>; line 7: <why> (2 bad lines: fix them all, then run again)`.
 */
export function readPromptsFile(file: string): PromptLine[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'EISDIR' ? 'it is a folder, not a file' : code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    const sets = file === 'seen' || file === 'unseen' ? ` ("${file}", the prompt set, is taken by collect, render-set and evaluate; here write its prompts to a file, one a line)` : '';
    throw new Error(`cannot read prompts file ${file}: ${why}${sets}`);
  }
  if (/[\u0000\uFFFD]/.test(text)) throw new Error(`${file} is not a text file of prompts (it holds binary data, e.g. an image): give one prompt a line`);
  const out: PromptLine[] = [];
  const bad: Array<{ line: number; why: string }> = [];
  text.split(/\r\n|\r|\n/).forEach((raw, k) => { // Unix, Windows and old Mac line ends (a lone \r merged two prompts)
    const s = raw.trim();
    if (s === '' || s.startsWith('#')) return;
    let attributes: Attributes;
    try {
      attributes = parsePrompt(s);
    } catch (e) {
      bad.push({ line: k + 1, why: (e as Error).message });
      return;
    }
    out.push({ line: k + 1, prompt: formatPrompt(attributes), text: s, attributes });
  });
  if (bad.length === 1) throw new Error(`${file}:${bad[0].line}: ${bad[0].why}`);
  if (bad.length > 1) {
    const shown = bad.slice(0, MAX_REPORTED).map((b, i) => (i === 0 ? `${file}:${b.line}: ${b.why}` : `line ${b.line}: ${b.why}`));
    const more = bad.length > MAX_REPORTED ? `; and ${bad.length - MAX_REPORTED} more` : '';
    throw new Error(`${shown.join('; ')}${more} (${bad.length} bad lines: fix them all, then run again)`);
  }
  if (out.length === 0) throw new Error(`${file}: no prompts (one per line; blank lines and # comments are skipped)`);
  return out;
}
