import { SingleBar } from 'cli-progress';

export interface ProgressReporter {
  update(done: number, total: number, message: string): void;
  stop(): void;
}

/** A bar with ETA on a terminal (stderr); plain lines every ~10% otherwise, so logs stay readable. */
export function progressBar(label: string): ProgressReporter {
  if (!process.stderr.isTTY) {
    let lastDecile = -1;
    const started = Date.now();
    return {
      update(done, total, message) {
        const decile = total ? Math.floor((10 * done) / total) : 0;
        if (decile === lastDecile) return;
        lastDecile = decile;
        const elapsed = (Date.now() - started) / 1000;
        const eta = done > 0 ? Math.round((elapsed * (total - done)) / done) : NaN;
        process.stderr.write(`${label}: ${done}/${total} ${message}${Number.isFinite(eta) ? ` (ETA ${eta}s)` : ''}\n`);
      },
      stop() {},
    };
  }
  const bar = new SingleBar({
    format: `${label} [{bar}] {percentage}% | ETA {eta_formatted} | {message}`,
    stream: process.stderr,
    hideCursor: true,
    etaBuffer: 20,
  });
  let started = false;
  return {
    update(done, total, message) {
      if (!started) {
        bar.start(total, done, { message });
        started = true;
      }
      bar.setTotal(total);
      bar.update(done, { message });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
