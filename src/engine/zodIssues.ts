/** zod errors as one line that names each key, and the keys allowed where one is unknown. */
import { z } from 'zod';

/** zod issues as one line naming each key; an unknown key's line lists the keys allowed there. */
export function zodIssuesLine(e: z.ZodError, schema?: z.ZodType): string {
  return e.issues.map((i) => {
    const keys = i.code === 'unrecognized_keys' && schema ? keysAt(schema, i.path) : undefined;
    return `${i.path.join('.') || '(root)'}: ${i.message}${keys ? `; the keys there are ${keys.join(', ')}` : ''}`;
  }).join('; ');
}

/** The keys an object schema takes at `at` (through optional, default, array and partial wrappers), if it is one. */
function keysAt(schema: z.ZodType, at: readonly PropertyKey[]): string[] | undefined {
  let t: unknown = schema;
  const def = (x: unknown) => (x as { _zod?: { def?: Record<string, unknown> } })._zod?.def ?? {};
  const unwrap = () => {
    for (let d = def(t); d.innerType !== undefined; d = def(t)) t = d.innerType;
  };
  for (const k of at) {
    unwrap();
    if (typeof k === 'number') t = def(t).element;
    else t = (def(t).shape as Record<string, unknown> | undefined)?.[k as string];
    if (t === undefined) return undefined;
  }
  unwrap();
  const shape = def(t).shape as Record<string, unknown> | undefined;
  if (shape) return Object.keys(shape);
  const entries = def(def(t).keyType).entries as Record<string, string> | undefined; // a record keyed by an enum
  return entries ? Object.values(entries) : undefined;
}

