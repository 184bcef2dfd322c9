import type * as TF from '@tensorflow/tfjs';
import type { GradConfig, NamedAttrMap, Tensor, Tensor4D } from '@tensorflow/tfjs';

/**
 * Gradients the wasm backend has no kernels for (Conv2DBackpropFilter, depthwise input and
 * filter gradients), rebuilt from ops it does have. Each is a small config object registered
 * in one place (registerWasmGradients); registered gradients apply to every backend, and each
 * is checked against tfjs's own gradient on the cpu backend in the tests.
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
 * dFilter of a regular conv: for each kernel tap, the strided window of the padded input times
 * dy (one matMul over batch and space). 1x1 stride-1 convs (most of a MobileNet) are one matMul.
 */
export function conv2dFilterGrad(tf: typeof TF, x: Tensor4D, dy: Tensor4D, filterShape: number[], attrs: ConvAttrs): Tensor {
  return tf.tidy(() => {
    const info = convInfo(tf, x, filterShape, attrs, false);
    const [k1, k2, cin, cout] = filterShape;
    const { strideHeight: sh, strideWidth: sw, outHeight: ho, outWidth: wo } = info;
    const dy2d = dy.reshape([-1, cout]);
    const xp = padLike(tf, x, info);
    const taps: Tensor[] = [];
    for (let i = 0; i < k1; i++) {
      for (let j = 0; j < k2; j++) {
        const window = tf.stridedSlice(xp, [0, i, j, 0], [xp.shape[0], i + (ho - 1) * sh + 1, j + (wo - 1) * sw + 1, cin], [1, sh, sw, 1]);
        taps.push(tf.matMul(window.reshape([-1, cin]), dy2d, true, false));
      }
    }
    return tf.stack(taps).reshape([k1, k2, cin, cout]);
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
    const dilated = zeroDilate(tf, dy, sh, sw);
    // Rows of the padded input the forward conv never reached get zero gradient: pad them back.
    const extraH = h + p.top + p.bottom - k1 - (ho - 1) * sh;
    const extraW = w + p.left + p.right - k2 - (wo - 1) * sw;
    const padded = dilated.pad([[0, 0], [k1 - 1 - p.top, k1 - 1 - p.bottom + extraH], [k2 - 1 - p.left, k2 - 1 - p.right + extraW], [0, 0]]) as Tensor4D;
    const flipped = filter.reverse([0, 1]) as Tensor4D;
    return tf.depthwiseConv2d(padded, flipped, 1, 'valid');
  });
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
          x: () => tf.conv2dTranspose(dy as Tensor4D, filter, x.shape, a.strides, a.pad as never, a.dimRoundingMode),
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
