import { TailorError } from '../core/errors';

/** All objectives are minimized. */
export type Vector = readonly number[];

/** a Pareto-dominates b: no worse in every objective, better in at least one. */
export function dominates(a: Vector, b: Vector): boolean {
  let better = false;
  for (let i = 0; i < a.length; i++) {
    if (a[i] > b[i]) return false;
    if (a[i] < b[i]) better = true;
  }
  return better;
}

/**
 * Deb's constrained domination: a feasible point beats an infeasible one, of two infeasible points
 * the smaller violation wins, two feasible points compare by Pareto domination.
 */
export function constrainedDominates(a: Vector, violationA: number, b: Vector, violationB: number): boolean {
  if (violationA > 0 || violationB > 0) return violationA < violationB;
  return dominates(a, b);
}

/** Indices of the non-dominated vectors, in input order. Exact duplicates are all kept. */
export function nonDominatedIndices(vectors: readonly Vector[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < vectors.length; i++) {
    let dominated = false;
    for (let j = 0; j < vectors.length && !dominated; j++) dominated = j !== i && dominates(vectors[j], vectors[i]);
    if (!dominated) out.push(i);
  }
  return out;
}

/** The non-dominated items, in input order. */
export function paretoFront<T>(items: readonly T[], toVector: (item: T) => Vector): T[] {
  const vectors = items.map(toVector);
  return nonDominatedIndices(vectors).map((i) => items[i]);
}

/**
 * NSGA-II's fast non-dominated sort (Deb et al. 2002), O(M N^2). With `violations`, domination is
 * Deb's constrained domination, so feasible points fill the first fronts. Returns fronts of indices.
 */
export function fastNonDominatedSort(vectors: readonly Vector[], violations?: readonly number[]): number[][] {
  const n = vectors.length;
  const violation = (i: number) => (violations ? violations[i] : 0);
  const dominatedBy: number[][] = Array.from({ length: n }, () => []);
  const dominationCount = new Array<number>(n).fill(0);
  const fronts: number[][] = [[]];
  for (let p = 0; p < n; p++) {
    for (let q = p + 1; q < n; q++) {
      if (constrainedDominates(vectors[p], violation(p), vectors[q], violation(q))) {
        dominatedBy[p].push(q);
        dominationCount[q]++;
      } else if (constrainedDominates(vectors[q], violation(q), vectors[p], violation(p))) {
        dominatedBy[q].push(p);
        dominationCount[p]++;
      }
    }
  }
  for (let p = 0; p < n; p++) if (dominationCount[p] === 0) fronts[0].push(p);
  for (let f = 0; fronts[f].length; f++) {
    const next: number[] = [];
    for (const p of fronts[f]) {
      for (const q of dominatedBy[p]) if (--dominationCount[q] === 0) next.push(q);
    }
    next.sort((a, b) => a - b);
    fronts.push(next);
  }
  fronts.pop();
  return fronts;
}

/**
 * NSGA-II crowding distance of the points of one front (indices into `vectors`): per objective,
 * the normalized gap between the two neighbours; the extremes get Infinity so they always survive.
 */
export function crowdingDistance(vectors: readonly Vector[], front: readonly number[]): number[] {
  const distance = new Array<number>(front.length).fill(0);
  if (!front.length) return distance;
  const objectives = vectors[front[0]].length;
  for (let m = 0; m < objectives; m++) {
    const order = front.map((_, i) => i).sort((a, b) => vectors[front[a]][m] - vectors[front[b]][m] || a - b);
    const min = vectors[front[order[0]]][m];
    const max = vectors[front[order[order.length - 1]]][m];
    distance[order[0]] = Infinity;
    distance[order[order.length - 1]] = Infinity;
    if (max === min) continue;
    for (let k = 1; k < order.length - 1; k++) {
      distance[order[k]] += (vectors[front[order[k + 1]]][m] - vectors[front[order[k - 1]]][m]) / (max - min);
    }
  }
  return distance;
}

/** NSGA-II's rank (index of the non-dominated front, 0 best) and crowding distance of every point. */
export function rankAndCrowding(vectors: readonly Vector[], violations?: readonly number[]): { rank: number[]; crowding: number[] } {
  const rank = new Array<number>(vectors.length);
  const crowding = new Array<number>(vectors.length);
  fastNonDominatedSort(vectors, violations).forEach((front, f) => {
    const distance = crowdingDistance(vectors, front);
    front.forEach((i, k) => {
      rank[i] = f;
      crowding[i] = distance[k];
    });
  });
  return { rank, crowding };
}

/** NSGA-II's crowded comparison: negative when a is better (lower rank, then larger crowding distance), 0 on a tie. */
export function crowdedCompare(a: number, b: number, rank: readonly number[], crowding: readonly number[]): number {
  if (rank[a] !== rank[b]) return rank[a] - rank[b];
  if (crowding[a] === crowding[b]) return 0;
  return crowding[a] > crowding[b] ? -1 : 1;
}

/**
 * NSGA-II's elitist survival: indices of the `size` points kept, whole fronts in rank order, the
 * front that does not fit cut by crowding distance (largest first, ties by index).
 */
export function survivorIndices(vectors: readonly Vector[], size: number, violations?: readonly number[]): number[] {
  const out: number[] = [];
  for (const front of fastNonDominatedSort(vectors, violations)) {
    if (out.length + front.length <= size) {
      out.push(...front);
      if (out.length === size) break;
      continue;
    }
    const distance = crowdingDistance(vectors, front);
    const order = front.map((_, k) => k).sort((a, b) => (distance[a] === distance[b] ? a - b : distance[b] > distance[a] ? 1 : -1));
    for (const k of order.slice(0, size - out.length)) out.push(front[k]);
    break;
  }
  return out;
}

/**
 * Exact hypervolume dominated by `points` (minimized) up to `reference`. Points not strictly better
 * than the reference in every objective add nothing. 2-D: one sweep; 3-D: a sweep along the third
 * objective over an incrementally kept 2-D staircase, O(n^2); 4-D and more: slicing (HSO) along
 * the last objective down to the 3-D case. Meant for fronts of up to a few hundred points.
 */
export function hypervolume(points: readonly Vector[], reference: Vector): number {
  const dims = reference.length;
  if (dims < 1) throw new TailorError('INVALID_OPTION', { option: 'reference', reason: 'needs at least one objective' });
  for (const p of points) {
    if (p.length !== dims) throw new TailorError('INVALID_OPTION', { option: 'points', reason: `a point has ${p.length} objectives, the reference ${dims}` });
  }
  const inside = points.filter((p) => p.every((v, i) => v < reference[i]));
  return volume(inside, reference, dims);
}

/** Hypervolume of the first `dims` coordinates. */
function volume(points: readonly Vector[], ref: Vector, dims: number): number {
  if (!points.length) return 0;
  if (dims === 1) return ref[0] - Math.min(...points.map((p) => p[0]));
  if (dims === 2) return area2d(points, ref);
  if (dims === 3) return volume3d(points, ref);
  const last = dims - 1;
  const sorted = points.slice().sort((a, b) => a[last] - b[last]);
  // Slices between consecutive values of the last objective; within a slice the dominated region is
  // that of the points below it, projected to dims - 1 (kept non-dominated so the recursion stays small).
  const below: Vector[] = [];
  let total = 0;
  for (let i = 0; i < sorted.length; i++) {
    insertNonDominated(below, sorted[i], last);
    const depth = (i + 1 < sorted.length ? sorted[i + 1][last] : ref[last]) - sorted[i][last];
    if (depth > 0) total += depth * volume(below, ref, last);
  }
  return total;
}

function weaklyDominates(a: Vector, b: Vector, dims: number): boolean {
  for (let i = 0; i < dims; i++) if (a[i] > b[i]) return false;
  return true;
}

function insertNonDominated(set: Vector[], p: Vector, dims: number): void {
  if (set.some((q) => weaklyDominates(q, p, dims))) return;
  for (let i = set.length - 1; i >= 0; i--) if (weaklyDominates(p, set[i], dims)) set.splice(i, 1);
  set.push(p);
}

function area2d(points: readonly Vector[], ref: Vector): number {
  const sorted = points.slice().sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let bound = ref[1];
  let area = 0;
  for (const p of sorted) {
    if (p[1] < bound) {
      area += (ref[0] - p[0]) * (bound - p[1]);
      bound = p[1];
    }
  }
  return area;
}

function volume3d(points: readonly Vector[], ref: Vector): number {
  const sorted = points.slice().sort((a, b) => a[2] - b[2]);
  // 2-D staircase of the points seen so far: x ascending, y strictly descending.
  const xs: number[] = [];
  const ys: number[] = [];
  let total = 0;
  for (let i = 0; i < sorted.length; i++) {
    const [x, y] = sorted[i];
    let pos = 0;
    while (pos < xs.length && xs[pos] <= x) pos++;
    // The step just left of x has the lowest y of all steps with x' <= x.
    if (!(pos > 0 && ys[pos - 1] <= y)) {
      if (pos > 0 && xs[pos - 1] === x) pos--; // same x, higher y: the new point replaces it
      let end = pos;
      while (end < xs.length && ys[end] >= y) end++;
      xs.splice(pos, end - pos, x);
      ys.splice(pos, end - pos, y);
    }
    const depth = (i + 1 < sorted.length ? sorted[i + 1][2] : ref[2]) - sorted[i][2];
    if (depth > 0) {
      let area = 0;
      for (let k = 0; k < xs.length; k++) area += ((k + 1 < xs.length ? xs[k + 1] : ref[0]) - xs[k]) * (ref[1] - ys[k]);
      total += depth * area;
    }
  }
  return total;
}

export interface ObjectiveBounds {
  /** Best value of each objective (maps to 0). */
  ideal: Vector;
  /** Worst value of interest of each objective (maps to 1). */
  nadir: Vector;
}

/** Maps each objective to [0, 1] between ideal and nadir (values outside stay outside). */
export function normalizeObjectives(points: readonly Vector[], bounds: ObjectiveBounds): number[][] {
  const { ideal, nadir } = bounds;
  if (ideal.length !== nadir.length) throw new TailorError('INVALID_OPTION', { option: 'bounds', reason: 'ideal and nadir differ in length' });
  ideal.forEach((v, i) => {
    if (!(nadir[i] > v)) throw new TailorError('INVALID_OPTION', { option: 'bounds', reason: `objective ${i}: nadir ${nadir[i]} is not above ideal ${v}` });
  });
  return points.map((p) => p.map((v, i) => (v - ideal[i]) / (nadir[i] - ideal[i])));
}

/** Hypervolume after normalizing to [0, 1] with `bounds`, reference point 1.1 in every objective by default. */
export function normalizedHypervolume(points: readonly Vector[], bounds: ObjectiveBounds, reference = 1.1): number {
  return hypervolume(normalizeObjectives(points, bounds), bounds.ideal.map(() => reference));
}
