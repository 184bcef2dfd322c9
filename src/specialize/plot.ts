/** Accuracy vs latency plot of a search: every evaluated point faint, the front highlighted, the budget drawn. */
export interface PlotInput {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Every evaluated point (x, y). */
  all: { x: number; y: number; feasible: boolean }[];
  /** The Pareto front, drawn as a line through its points. */
  front: { x: number; y: number }[];
  /** Emitted subnets, labelled by their index. */
  emitted: { x: number; y: number; label: string }[];
  /** Legend of the emitted points (default "emitted subnet"). */
  emittedLegend?: string;
  /** Vertical budget lines. */
  budgets: { x: number; label: string }[];
}

const W = 800;
const H = 520;
const M = { left: 70, right: 30, top: 50, bottom: 60 };
const MAX_FAINT_POINTS = 4000;

/** Round tick steps (1, 2, 5 x 10^n) for a range. */
export function ticks(min: number, max: number, count = 6): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function escape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function paretoSvg(p: PlotInput): string {
  const xs = [...p.all.map((a) => a.x), ...p.budgets.map((b) => b.x)];
  const ys = p.all.map((a) => a.y);
  const pad = (lo: number, hi: number) => {
    const d = (hi - lo || Math.abs(hi) || 1) * 0.05;
    return [lo - d, hi + d];
  };
  const [x0, x1] = pad(Math.min(...xs), Math.max(...xs));
  const [y0, y1] = pad(Math.min(...ys), Math.max(...ys));
  const sx = (x: number) => M.left + ((x - x0) / (x1 - x0)) * (W - M.left - M.right);
  const sy = (y: number) => H - M.bottom - ((y - y0) / (y1 - y0)) * (H - M.top - M.bottom);
  const f = (v: number) => v.toFixed(1);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="15">${escape(p.title)}</text>`);
  // Axes, grid and ticks.
  for (const t of ticks(x0, x1)) {
    out.push(`<line x1="${f(sx(t))}" y1="${M.top}" x2="${f(sx(t))}" y2="${H - M.bottom}" stroke="#eee"/>`);
    out.push(`<text x="${f(sx(t))}" y="${H - M.bottom + 16}" text-anchor="middle">${t}</text>`);
  }
  for (const t of ticks(y0, y1)) {
    out.push(`<line x1="${M.left}" y1="${f(sy(t))}" x2="${W - M.right}" y2="${f(sy(t))}" stroke="#eee"/>`);
    out.push(`<text x="${M.left - 6}" y="${f(sy(t) + 4)}" text-anchor="end">${t}</text>`);
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${(M.left + W - M.right) / 2}" y="${H - 16}" text-anchor="middle">${escape(p.xLabel)}</text>`);
  out.push(`<text transform="translate(18 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">${escape(p.yLabel)}</text>`);
  // Every evaluated point, faint (thinned evenly when there are very many).
  const step = Math.max(1, Math.ceil(p.all.length / MAX_FAINT_POINTS));
  for (let i = 0; i < p.all.length; i += step) {
    const a = p.all[i];
    out.push(`<circle cx="${f(sx(a.x))}" cy="${f(sy(a.y))}" r="2" fill="${a.feasible ? '#9aa7b8' : '#d9b3b3'}" fill-opacity="0.35"/>`);
  }
  for (const b of p.budgets) {
    out.push(`<line x1="${f(sx(b.x))}" y1="${M.top}" x2="${f(sx(b.x))}" y2="${H - M.bottom}" stroke="#c0392b" stroke-dasharray="6 4" stroke-width="1.5"/>`);
    out.push(`<text x="${f(sx(b.x) + 4)}" y="${H - M.bottom - 8}" fill="#c0392b">${escape(b.label)}</text>`);
  }
  const front = [...p.front].sort((a, b) => a.x - b.x);
  if (front.length > 1) out.push(`<polyline points="${front.map((q) => `${f(sx(q.x))},${f(sy(q.y))}`).join(' ')}" fill="none" stroke="#1f6fb2" stroke-width="2"/>`);
  for (const q of front) out.push(`<circle cx="${f(sx(q.x))}" cy="${f(sy(q.y))}" r="3.5" fill="#1f6fb2"/>`);
  for (const e of p.emitted) {
    out.push(`<circle cx="${f(sx(e.x))}" cy="${f(sy(e.y))}" r="6" fill="none" stroke="#e67e22" stroke-width="2"/>`);
    out.push(`<text x="${f(sx(e.x) + 8)}" y="${f(sy(e.y) - 8)}" fill="#a04000">${escape(e.label)}</text>`);
  }
  out.push(
    `<g transform="translate(${W - M.right - 250} ${H - M.bottom - 62})"><rect width="240" height="56" fill="white" stroke="#ccc"/>` +
      `<circle cx="12" cy="12" r="3" fill="#9aa7b8"/><text x="22" y="16">evaluated</text>` +
      `<circle cx="12" cy="28" r="3.5" fill="#1f6fb2"/><text x="22" y="32">Pareto front</text>` +
      `<circle cx="12" cy="44" r="5" fill="none" stroke="#e67e22" stroke-width="2"/><text x="22" y="48">${escape(p.emittedLegend ?? 'emitted subnet')}</text></g>`,
  );
  out.push('</svg>');
  return out.join('\n');
}

/** The SVG rasterized by sharp (librsvg), for places that show images but not SVG. */
export async function svgToPng(svg: string, file: string): Promise<void> {
  const sharp = (await import('sharp')).default;
  await sharp(Buffer.from(svg), { density: 96 }).png().toFile(file);
}
