/**
 * A word-level tokenizer over the prompt grammar's words.
 *
 * The vocabulary is fixed: 4 special tokens, then every word the grammar can
 * produce or parse (counts, articles, colors, objects and their plurals, the
 * words of the background phrases), in the order `src/world/vocab.ts` lists
 * them. A prompt becomes `<bos> w1 ... wn <eos> <pad> ...` of length `maxTokens`.
 * Checkpoints store the vocabulary, and loading checks it.
 */
import { BACKGROUND_ALIASES, BACKGROUNDS, COLORS, COUNT_WORDS, OBJECTS, PLACES, plural } from '../../world/vocab';

export const PAD = '<pad>';
export const BOS = '<bos>';
export const EOS = '<eos>';
export const UNK = '<unk>';
export const PAD_ID = 0;
export const BOS_ID = 1;
export const EOS_ID = 2;
export const UNK_ID = 3;

/** The vocabulary: special tokens, then the grammar's words (no duplicates). */
export function grammarVocabulary(): string[] {
  const words = [
    ...['a', 'an'],
    ...COUNT_WORDS,
    ...COLORS,
    ...OBJECTS.flatMap((o) => [o, plural(o)]),
    ...BACKGROUNDS.flatMap((b) => (PLACES[b].phrase ?? '').split(' ')),
    ...Object.keys(BACKGROUND_ALIASES).flatMap((p) => p.split(' ')),
  ];
  return [PAD, BOS, EOS, UNK, ...new Set(words)];
}

/** Splits a prompt the way the grammar does: lower case, collapsed spaces, no final period. */
export function promptWords(text: string): string[] {
  const clean = text.trim().toLowerCase().replace(/\.$/, '').replace(/\s+/g, ' ');
  return clean === '' ? [] : clean.split(' ');
}

export class Tokenizer {
  readonly vocab: readonly string[];
  private readonly ids: Map<string, number>;

  constructor(readonly maxTokens: number, vocab: readonly string[] = grammarVocabulary()) {
    if (vocab[PAD_ID] !== PAD || vocab[BOS_ID] !== BOS || vocab[EOS_ID] !== EOS || vocab[UNK_ID] !== UNK) {
      throw new Error(`tokenizer vocabulary must start with ${[PAD, BOS, EOS, UNK].join(', ')}`);
    }
    this.vocab = vocab;
    this.ids = new Map(vocab.map((w, i) => [w, i]));
  }

  get size(): number {
    return this.vocab.length;
  }

  /** Token ids of one prompt, padded to maxTokens; unknown words become <unk>. The empty prompt is `<bos> <eos>` (the null condition). */
  encode(text: string): number[] {
    const ws = promptWords(text);
    if (ws.length + 2 > this.maxTokens) {
      throw new Error(`prompt "${text}" has ${ws.length} words; at most ${this.maxTokens - 2} fit in ${this.maxTokens} tokens`);
    }
    const out = [BOS_ID, ...ws.map((w) => this.ids.get(w) ?? UNK_ID), EOS_ID];
    while (out.length < this.maxTokens) out.push(PAD_ID);
    return out;
  }

  /** Ids of a batch, row-major [B * maxTokens] as Int32Array. */
  encodeBatch(texts: readonly string[]): Int32Array {
    const out = new Int32Array(texts.length * this.maxTokens);
    texts.forEach((t, i) => out.set(this.encode(t), i * this.maxTokens));
    return out;
  }

  /** The words of ids (specials dropped), joined by spaces. */
  decode(ids: readonly number[]): string {
    return ids
      .filter((i) => i >= UNK_ID)
      .map((i) => this.vocab[i] ?? UNK)
      .join(' ');
  }
}
