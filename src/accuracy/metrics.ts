/** Root-mean-square error. */
export function rmse(predicted: readonly number[], actual: readonly number[]): number {
  if (!actual.length) return NaN;
  return Math.sqrt(actual.reduce((s, a, i) => s + (predicted[i] - a) ** 2, 0) / actual.length);
}

/**
 * Kendall's tau-b rank correlation (ties in either list accounted for): how well a predictor
 * orders subnets, which is what a search needs from it. O(n^2): held-out sets are small.
 */
export function kendallTau(x: readonly number[], y: readonly number[]): number {
  let concordant = 0;
  let discordant = 0;
  let tiesX = 0;
  let tiesY = 0;
  for (let i = 0; i < x.length; i++) {
    for (let j = i + 1; j < x.length; j++) {
      const dx = Math.sign(x[i] - x[j]);
      const dy = Math.sign(y[i] - y[j]);
      if (dx === 0 && dy === 0) continue;
      if (dx === 0) tiesX++;
      else if (dy === 0) tiesY++;
      else if (dx === dy) concordant++;
      else discordant++;
    }
  }
  const denominator = Math.sqrt((concordant + discordant + tiesX) * (concordant + discordant + tiesY));
  return denominator ? (concordant - discordant) / denominator : NaN;
}
