/**
 * Progress for long work: a bar in a terminal (cli-progress), an updating
 * line in a Jupyter notebook (tslab.newDisplay), and plain periodic lines when
 * output goes to a file or CI log. `T2I_PROGRESS=0` silences it.
 */
import { SingleBar, Presets } from 'cli-progress';

export interface Progress {
  /** Advance by `n` (default 1) and show `info` (e.g. `{ loss: 0.12 }`) beside the bar. */
  tick(n?: number, info?: Record<string, number | string>): void;
  /** Finish the bar (idempotent). */
  done(): void;
}

export type ProgressMode = 'terminal' | 'notebook' | 'lines' | 'silent';

/** Where a notebook's progress line goes (tslab's display; a test's stand-in). */
export interface NotebookDisplay {
  html(s: string): void;
}

function notebookDisplay(): NotebookDisplay | undefined {
  // tslab's display functions throw outside a kernel; only try inside one.
  if (!process.env.JPY_PARENT_PID && !process.env.TSLAB_KERNEL) return undefined;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const tslab = require('tslab') as { newDisplay(): NotebookDisplay };
    return tslab.newDisplay();
  } catch {
    return undefined;
  }
}

/** Least time between two updates of a notebook's progress line. */
export const NOTEBOOK_UPDATE_MS = 1000;

/** Which way progress will be shown here. */
export function progressMode(stream: NodeJS.WriteStream = process.stderr): ProgressMode {
  if (process.env.T2I_PROGRESS === '0') return 'silent';
  if (process.env.JPY_PARENT_PID) return 'notebook';
  return stream.isTTY ? 'terminal' : 'lines';
}

function formatInfo(info?: Record<string, number | string>): string {
  if (!info) return '';
  return Object.entries(info)
    .map(([k, v]) => `${k}=${typeof v === 'number' ? (Number.isInteger(v) ? v : v.toPrecision(4)) : v}`)
    .join(' ');
}

/**
 * Start a progress reporter for `total` units of work named `label`.
 * @example
 *   const bar = progress(steps, 'pretrain');
 *   for (...) { ...; bar.tick(1, { loss }); }
 *   bar.done();
 */
export function progress(total: number, label: string, mode: ProgressMode = progressMode(), notebook?: NotebookDisplay): Progress {
  let count = 0;
  let finished = false;
  const started = Date.now();
  if (mode === 'terminal') {
    const bar = new SingleBar(
      { format: `${label} [{bar}] {value}/{total} {percentage}% eta {eta_formatted} {info}`, stream: process.stderr, hideCursor: true },
      Presets.shades_classic,
    );
    bar.start(total, 0, { info: '' });
    return {
      tick(n = 1, info) {
        count += n;
        bar.update(count, { info: formatInfo(info) });
      },
      done() {
        if (!finished) bar.stop();
        finished = true;
      },
    };
  }
  const display = mode === 'notebook' ? (notebook ?? notebookDisplay()) : undefined;
  let lastShown = started;
  const show = (info?: Record<string, number | string>) => {
    const pct = total > 0 ? Math.floor((100 * count) / total) : 100;
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    const text = `${label} ${count}/${total} (${pct}%) ${secs}s ${formatInfo(info)}`.trim();
    if (display) {
      const width = Math.max(0, Math.min(100, pct));
      try {
        display.html(
          `<div style="font-family:monospace">${text}<div style="background:#eee;width:300px;height:8px">` +
            `<div style="background:#4a8;width:${width * 3}px;height:8px"></div></div></div>`,
        );
      } catch {
        // The kernel's socket still sending the last update ("Socket is busy writing", on a loaded machine):
        // skip this one rather than fail the training it reports on; the next update shows the count.
      }
    } else if (mode !== 'silent') {
      process.stderr.write(text + '\n');
    }
  };
  return {
    tick(n = 1, info) {
      count += n;
      const now = Date.now();
      // Lines: at most every 10% or every 5 s; notebook: at most one update a second (more kept the kernel's
      // socket busy on a loaded machine, and a send while it was killed a notebook's kernel).
      const due = display ? now - lastShown > NOTEBOOK_UPDATE_MS : now - lastShown > 5000 || Math.floor((10 * count) / total) > Math.floor((10 * (count - n)) / total);
      if (due || count >= total) {
        lastShown = now;
        show(info);
      }
    },
    done() {
      if (!finished && count < total) show();
      finished = true;
    },
  };
}
