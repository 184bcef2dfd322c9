import type * as TF from '@tensorflow/tfjs';
import type { GradConfig, NamedAttrMap, Tensor, Tensor2D, Tensor4D } from '@tensorflow/tfjs';

/**
 * Gradients the wasm backend has no kernels for (Conv2DBackpropFilter, depthwise input and
 * filter gradients), rebuilt from ops it does have. Each is a small config object registered
 * in one place (registerWasmGradients); registered gradients apply to every backend, and each
 * is checked against tfjs's own gradient on the cpu backend in the tests. Batch norm's
 * closed-form gradient (batchNormGrad, the gradient of the executor's batch-statistics op) is
 * here too: every hand-written gradient lives in this one module.
 *
 * Supported: NHWC, dilation 1, numeric or explicit padding or 'same'/'valid' (TF's asymmetric
 * 'same' at stride 2 included, via the conv info tfjs computes).
 */

interface ConvAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | number[][];
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  dataFormat?: string;
}

function pair(v: number | [number, number] | undefined, fallback: number): [number, number] {
  if (v === undefined) return [fallback, fallback];
  return typeof v === 'number' ? [v, v] : v;
}

function convInfo(tf: typeof TF, x: Tensor4D, filterShape: number[], attrs: ConvAttrs, depthwise: boolean) {
  const [sh, sw] = pair(attrs.strides, 1);
  const [dh, dw] = pair(attrs.dilations, 1);
  if (dh !== 1 || dw !== 1) throw new Error('dilated convolutions have no gradient here');
  return tf.backend_util.computeConv2DInfo(
    x.shape, filterShape as [number, number, number, number], [sh, sw], [dh, dw],
    attrs.pad as never, attrs.dimRoundingMode, depthwise,
  );
}

/** Pads x spatially the way the forward conv did (explicit top/bottom/left/right). */
function padLike(tf: typeof TF, x: Tensor4D, info: ReturnType<typeof convInfo>): Tensor4D {
  const p = info.padInfo;
  return p.top || p.bottom || p.left || p.right ? tf.pad(x, [[0, 0], [p.top, p.bottom], [p.left, p.right], [0, 0]]) : x;
}

/**
 * a^T b for row-major [n, p] and [n, q]: the wasm matMul with transposeA is several times slower
 * than transposing first, and a transpose costs per element, so transpose the narrower operand.
 */
function matMulTransA(tf: typeof TF, a: Tensor2D, b: Tensor2D): Tensor2D {
  return a.shape[1] <= b.shape[1] ? tf.matMul(a.transpose(), b) : tf.matMul(b.transpose(), a).transpose();
}

function isPointwise(filterShape: number[], info: ReturnType<typeof convInfo>): boolean {
  const p = info.padInfo;
  return filterShape[0] === 1 && filterShape[1] === 1 && info.strideHeight === 1 && info.strideWidth === 1 && !(p.top || p.bottom || p.left || p.right);
}

/**
 * dFilter of a regular conv: for each kernel tap, the strided window of the padded input times
 * dy (one matMul over batch and space). 1x1 stride-1 convs (most of a MobileNet) are one matMul.
 */
export function conv2dFilterGrad(tf: typeof TF, x: Tensor4D, dy: Tensor4D, filterShape: number[], attrs: ConvAttrs): Tensor {
  return tf.tidy(() => {
    const info = convInfo(tf, x, filterShape, attrs, false);
    const [k1, k2, cin, cout] = filterShape;
    const { strideHeight: sh, strideWidth: sw, outHeight: ho, outWidth: wo } = info;
    const dy2d = dy.reshape([-1, cout]) as Tensor2D;
    if (isPointwise(filterShape, info)) return matMulTransA(tf, x.reshape([-1, cin]), dy2d).reshape(filterShape);
    const xp = padLike(tf, x, info);
    const taps: Tensor[] = [];
    for (let i = 0; i < k1; i++) {
      for (let j = 0; j < k2; j++) {
        const window = tf.stridedSlice(xp, [0, i, j, 0], [xp.shape[0], i + (ho - 1) * sh + 1, j + (wo - 1) * sw + 1, cin], [1, sh, sw, 1]);
        taps.push(matMulTransA(tf, window.reshape([-1, cin]), dy2d));
      }
    }
    return tf.stack(taps).reshape([k1, k2, cin, cout]);
  });
}

/**
 * dInput of a regular conv. A 1x1 stride-1 conv's is the 1x1 conv of dy with the transposed
 * filter, which runs on the fast forward kernel (the backend's Conv2DBackpropInput is 3-10x
 * slower); other convs use conv2dTranspose.
 */
export function conv2dInputGrad(tf: typeof TF, xShape: number[], dy: Tensor4D, filter: Tensor4D, attrs: ConvAttrs): Tensor {
  return tf.tidy(() => {
    const info = convInfo(tf, { shape: xShape } as Tensor4D, filter.shape, attrs, false);
    if (isPointwise(filter.shape, info)) {
      const [, , cin, cout] = filter.shape;
      return tf.conv2d(dy, filter.reshape([cin, cout]).transpose().reshape([1, 1, cout, cin]) as Tensor4D, 1, 'valid');
    }
    return tf.conv2dTranspose(dy, filter, xShape as [number, number, number, number], attrs.strides, attrs.pad as never, attrs.dimRoundingMode);
  });
}

/**
 * dFilter of a depthwise conv as ONE depthwise conv: the padded input with the batch folded into
 * channels [1, Hp, Wp, B*C], convolved with dy as a [Ho, Wo, B*C, 1] filter dilated by the
 * stride, gives every tap for every (batch, channel); then sum over the batch.
 */
export function depthwiseFilterGrad(tf: typeof TF, x: Tensor4D, dy: Tensor4D, filterShape: number[], attrs: ConvAttrs): Tensor {
  return tf.tidy(() => {
    const info = convInfo(tf, x, filterShape, attrs, true);
    const [k1, k2, c, mult] = filterShape;
    if (mult !== 1) throw new Error('depthwise channel multiplier > 1 has no gradient here');
    const [b] = x.shape;
    const { strideHeight: sh, strideWidth: sw, outHeight: ho, outWidth: wo } = info;
    const xp = padLike(tf, x, info);
    const input = xp.transpose([1, 2, 0, 3]).reshape([1, xp.shape[1], xp.shape[2], b * c]) as Tensor4D;
    const kernel = dy.transpose([1, 2, 0, 3]).reshape([ho, wo, b * c, 1]) as Tensor4D;
    let taps: Tensor4D;
    if (sh === sw) {
      taps = tf.depthwiseConv2d(input, kernel, 1, 'valid', 'NHWC', sh);
    } else {
      throw new Error('unequal strides have no depthwise gradient here');
    }
    return taps.slice([0, 0, 0, 0], [1, k1, k2, b * c]).reshape([k1, k2, b, c]).sum(2).reshape([k1, k2, c, 1]);
  });
}

/** Inserts (s - 1) zeros between rows and columns: [B, H, W, C] -> [B, (H-1)s+1, (W-1)s+1, C]. */
function zeroDilate(tf: typeof TF, t: Tensor4D, sh: number, sw: number): Tensor4D {
  if (sh === 1 && sw === 1) return t;
  const [b, h, w, c] = t.shape;
  const spread = t.reshape([b, h, 1, w, 1, c]).pad([[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]);
  return spread.reshape([b, h * sh, w * sw, c]).slice([0, 0, 0, 0], [b, (h - 1) * sh + 1, (w - 1) * sw + 1, c]) as Tensor4D;
}

/**
 * dInput of a depthwise conv: the transposed convolution written as a stride-1 depthwise conv of
 * the zero-dilated, padded dy with the spatially flipped filter.
 */
export function depthwiseInputGrad(tf: typeof TF, xShape: number[], dy: Tensor4D, filter: Tensor4D, attrs: ConvAttrs): Tensor {
  return tf.tidy(() => {
    const probe = { shape: xShape } as Tensor4D;
    const info = convInfo(tf, probe, filter.shape, attrs, true);
    const [k1, k2] = filter.shape;
    const [, h, w] = xShape;
    const { strideHeight: sh, strideWidth: sw, outHeight: ho, outWidth: wo, padInfo: p } = info;
    const flipped = filter.reverse([0, 1]) as Tensor4D;
    // Rows of the padded input the forward conv never reached get zero gradient: pad them back.
    const extraH = h + p.top + p.bottom - k1 - (ho - 1) * sh;
    const extraW = w + p.left + p.right - k2 - (wo - 1) * sw;
    const pads = [k1 - 1 - p.top, k1 - 1 - p.bottom + extraH, k2 - 1 - p.left, k2 - 1 - p.right + extraW];
    // Stride 1 with equal pads all round (every odd kernel with pad k/2): the kernel pads
    // implicitly, ~30% faster than an explicit pad before a 'valid' conv.
    if (sh === 1 && sw === 1 && pads.every((v) => v === pads[0]) && pads[0] >= 0) return tf.depthwiseConv2d(dy, flipped, 1, pads[0]);
    if (sh === sw && sh > 1) return polyphaseInputGrad(tf, xShape, dy, filter, info);
    const padded = zeroDilate(tf, dy, sh, sw).pad([[0, 0], [pads[0], pads[1]], [pads[2], pads[3]], [0, 0]]) as Tensor4D;
    return tf.depthwiseConv2d(padded, flipped, 1, 'valid');
  });
}

/**
 * Strided depthwise dInput without convolving zeros: the padded-input position s*m + a only
 * receives taps a, a+s, ... of the filter, so each of the s*s phases is a stride-1 depthwise conv
 * of dy with that phase's flipped sub-filter (together the forward's MACs, where the zero-dilated
 * form costs s*s times more); the phases are interleaved, then the forward's padding is
 * cropped off.
 */
function polyphaseInputGrad(tf: typeof TF, xShape: number[], dy: Tensor4D, filter: Tensor4D, info: ReturnType<typeof convInfo>): Tensor {
  const [b, h, w, c] = xShape;
  const [k1, k2] = filter.shape;
  const { strideHeight: s, outHeight: ho, outWidth: wo, padInfo: p } = info;
  const rows = Math.ceil((p.top + h) / s);
  const cols = Math.ceil((p.left + w) / s);
  const fit = dy.slice([0, 0, 0, 0], [b, Math.min(ho, rows), Math.min(wo, cols), c]) as Tensor4D;
  const phaseRows: Tensor[] = [];
  for (let a = 0; a < s; a++) {
    const phases: Tensor[] = [];
    for (let e = 0; e < s; e++) {
      const tapsH = Math.max(0, Math.ceil((k1 - a) / s));
      const tapsW = Math.max(0, Math.ceil((k2 - e) / s));
      if (!tapsH || !tapsW) {
        phases.push(tf.zeros([b, rows, cols, c]));
        continue;
      }
      const sub = tf.stridedSlice(filter, [a, e, 0, 0], [k1, k2, c, 1], [s, s, 1, 1]).reverse([0, 1]) as Tensor4D;
      const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [tapsH - 1, rows - fit.shape[1]], [tapsW - 1, cols - fit.shape[2]], [0, 0]];
      phases.push(tf.depthwiseConv2d(fit, sub, 1, pad));
    }
    // Interleave columns, then rows, with stack + reshape (wasm's depthToSpace is far slower).
    phaseRows.push(tf.stack(phases, 3).reshape([b, rows, cols * s, c]));
  }
  const interleaved = tf.stack(phaseRows, 2).reshape([b, rows * s, cols * s, c]);
  return interleaved.slice([0, p.top, p.left, 0], [b, h, w, c]);
}

/**
 * Per-channel means of [n, c] rows as [1, c], as one average pool over all rows: on wasm that is
 * ~10x faster than a matMul with a row of ones and ~50x faster than tf.mean(axis 0).
 */
export function columnMeans(tf: typeof TF, rows: Tensor2D): Tensor2D {
  const [n, c] = rows.shape;
  return tf.reshape(tf.avgPool(tf.reshape(rows, [1, n, 1, c]) as Tensor4D, [n, 1], 1, 'valid'), [1, c]);
}

/**
 * The gradient of batch norm with batch statistics (executor's batchNormTraining) for inputs
 * [x, gamma, beta], given what its forward saved: x_hat as [n, c] rows and gamma / std as [1, c].
 * Autodiff through the statistics would need outer products and axis-0 sums, the slowest kernels
 * on wasm; the closed form needs two column means:
 * dx = gamma / std * (dy - mean(dy) - x_hat * mean(dy * x_hat)), dgamma = sum(dy * x_hat), dbeta = sum(dy).
 */
export function batchNormGrad(tf: typeof TF, dy: Tensor, saved: Tensor[], inputShape: number[]): Tensor[] {
  const [xHat, scale] = saved as [Tensor2D, Tensor2D];
  const [n, c] = xHat.shape;
  const dyRows = tf.reshape(dy, [n, c]) as Tensor2D;
  const meanDy = columnMeans(tf, dyRows);
  const meanDyXHat = columnMeans(tf, tf.mul(dyRows, xHat) as Tensor2D);
  const dx = tf.mul(scale, tf.sub(dyRows, tf.add(meanDy, tf.mul(xHat, meanDyXHat))));
  return [tf.reshape(dx, inputShape), tf.reshape(tf.mul(meanDyXHat, n), [c]), tf.reshape(tf.mul(meanDy, n), [c])];
}

/** The gradient configs, registered once per process (registration replaces tfjs's own). */
export function gradientConfigs(tf: typeof TF): GradConfig[] {
  return [
    {
      kernelName: 'Conv2D',
      inputsToSave: ['x', 'filter'],
      gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
        const [x, filter] = saved as [Tensor4D, Tensor4D];
        const a = attrs as unknown as ConvAttrs;
        return {
          x: () => conv2dInputGrad(tf, x.shape, dy as Tensor4D, filter, a),
          filter: () => conv2dFilterGrad(tf, x, dy as Tensor4D, filter.shape, a),
        };
      },
    },
    {
      kernelName: 'DepthwiseConv2dNative',
      inputsToSave: ['x', 'filter'],
      gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
        const [x, filter] = saved as [Tensor4D, Tensor4D];
        const a = attrs as unknown as ConvAttrs;
        return {
          x: () => depthwiseInputGrad(tf, x.shape, dy as Tensor4D, filter, a),
          filter: () => depthwiseFilterGrad(tf, x, dy as Tensor4D, filter.shape, a),
        };
      },
    },
  ];
}

let registered = false;
export function registerWasmGradients(tf: typeof TF): void {
  if (registered) return;
  registered = true;
  for (const config of gradientConfigs(tf)) tf.registerGradient(config);
}
