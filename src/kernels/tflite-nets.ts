import { FusedActivation, TfliteNetBuilder, TfliteRef } from '../tflite/builder';

/**
 * Building blocks of TFLite networks written with Tailor's own writer, in the forms our exporter
 * and common converters produce: the kernel-profiling graphs (tflite-sampler.ts) and the
 * validation models (tflite-zoo.ts) are made of these.
 */

/** An activation after a convolution: fused (NONE/RELU/RELU6), an op of its own, or OFA's h-sigmoid. */
export type ConvAct = FusedActivation | 'HARD_SWISH' | 'LOGISTIC' | 'RELU_OP' | 'H_SIGMOID';

/**
 * A convolution as our exporter writes it: where TF's SAME padding would pad a stride-2
 * convolution of an even size asymmetrically, an explicit PAD and a VALID convolution (`explicitPad`
 * false keeps SAME, as converters of TF models do).
 */
export function conv(g: TfliteNetBuilder, x: TfliteRef, o: { cout?: number; k: number; stride?: number; act?: ConvAct; depthwise?: boolean; explicitPad?: boolean }): TfliteRef {
  const stride = o.stride ?? 1;
  const act = o.act ?? 'NONE';
  const fused: FusedActivation = act === 'RELU' || act === 'RELU6' ? act : act === 'H_SIGMOID' ? 'RELU6' : 'NONE';
  const pad = Math.floor(o.k / 2);
  let padding: 'SAME' | 'VALID' = 'SAME';
  if ((o.explicitPad ?? true) && stride === 2 && o.k > 1 && x.shape[1] % 2 === 0) {
    x = g.pad(x, [pad, pad, pad, pad]);
    padding = 'VALID';
  }
  let y = o.depthwise ? g.depthwiseConv2d(x, o.k, stride, fused, padding) : g.conv2d(x, o.cout!, o.k, stride, fused, padding);
  if (act === 'HARD_SWISH') y = g.unary('HARD_SWISH', y);
  else if (act === 'LOGISTIC') y = g.unary('LOGISTIC', y);
  else if (act === 'RELU_OP') y = g.unary('RELU', y);
  else if (act === 'H_SIGMOID') y = g.scale(y, 1 / 6);
  return y;
}

/** Squeeze-and-excitation as OFA's (and our exporter's): mean, 1x1 ReLU, 1x1 h-sigmoid, broadcast MUL. */
export function squeezeExcite(g: TfliteNetBuilder, x: TfliteRef, reduction = 4): TfliteRef {
  const c = x.shape[3];
  const mid = Math.max(8, Math.round(c / reduction / 8) * 8);
  let s = g.mean(x, true);
  s = conv(g, s, { cout: mid, k: 1, act: 'RELU' });
  s = conv(g, s, { cout: c, k: 1, act: 'H_SIGMOID' });
  return g.binary('MUL', x, s);
}

/** MobileNetV2/V3 inverted residual: 1x1 expand, k x k depthwise, optional SE, 1x1 project, residual ADD. */
export function mbconv(g: TfliteNetBuilder, x: TfliteRef, o: { expand: number; k: number; stride: number; cout: number; act: ConvAct; se?: boolean; explicitPad?: boolean }): TfliteRef {
  const c = x.shape[3];
  const mid = o.expand === 1 ? c : Math.max(8, Math.round((c * o.expand) / 8) * 8);
  let y = o.expand === 1 ? x : conv(g, x, { cout: mid, k: 1, act: o.act });
  y = conv(g, y, { k: o.k, stride: o.stride, act: o.act, depthwise: true, explicitPad: o.explicitPad });
  if (o.se) y = squeezeExcite(g, y);
  y = conv(g, y, { cout: o.cout, k: 1 });
  return o.stride === 1 && o.cout === c ? g.binary('ADD', y, x) : y;
}

/** ResNet basic block (two 3x3) or bottleneck (1x1, 3x3, 1x1 x4), residual ADD with fused ReLU. */
export function resBlock(g: TfliteNetBuilder, x: TfliteRef, o: { width: number; stride: number; bottleneck: boolean; explicitPad?: boolean }): TfliteRef {
  const c = x.shape[3];
  const cout = o.bottleneck ? 4 * o.width : o.width;
  let y: TfliteRef;
  if (o.bottleneck) {
    y = conv(g, x, { cout: o.width, k: 1, act: 'RELU' });
    y = conv(g, y, { cout: o.width, k: 3, stride: o.stride, act: 'RELU', explicitPad: o.explicitPad });
    y = conv(g, y, { cout, k: 1 });
  } else {
    y = conv(g, x, { cout, k: 3, stride: o.stride, act: 'RELU', explicitPad: o.explicitPad });
    y = conv(g, y, { cout, k: 3 });
  }
  const shortcut = o.stride === 1 && c === cout ? x : conv(g, x, { cout, k: 1, stride: o.stride, explicitPad: false });
  return g.binary('ADD', y, shortcut, 'RELU');
}

/** Classifier head: mean, reshape to [1, C], fully connected (optionally a hidden layer first), softmax or not. */
export function classifier(g: TfliteNetBuilder, x: TfliteRef, o: { classes: number; hidden?: number; softmax?: boolean; keepDims?: boolean }): TfliteRef {
  let y = x.shape[1] * x.shape[2] > 1 ? g.mean(x, o.keepDims ?? true) : x;
  if (y.shape.length !== 2) y = g.reshape(y, [1, y.shape[y.shape.length - 1]]);
  if (o.hidden) y = g.fullyConnected(y, o.hidden, 'RELU');
  y = g.fullyConnected(y, o.classes);
  return o.softmax ? g.softmax(y) : y;
}

/** A MobileNetV3-style head as OFA's: mean, 1x1 conv to `features` with h-swish, FC to the classes. */
export function mbv3Head(g: TfliteNetBuilder, x: TfliteRef, o: { features: number; classes: number }): TfliteRef {
  let y = g.mean(x, true);
  y = conv(g, y, { cout: o.features, k: 1, act: 'HARD_SWISH' });
  return g.fullyConnected(g.reshape(y, [1, o.features]), o.classes);
}

/** Inception-style block: parallel 1x1 / 3x3 / 5x5 (or double 3x3) / pool branches, concatenated on channels. */
export function inceptionBlock(g: TfliteNetBuilder, x: TfliteRef, widths: number[], pool: 'MAX_POOL_2D' | 'AVERAGE_POOL_2D' = 'MAX_POOL_2D'): TfliteRef {
  const [w1, w3, w5, wp] = widths;
  const b1 = conv(g, x, { cout: w1, k: 1, act: 'RELU' });
  const b3 = conv(g, conv(g, x, { cout: Math.max(8, w3 >> 1), k: 1, act: 'RELU' }), { cout: w3, k: 3, act: 'RELU' });
  const b5 = conv(g, conv(g, x, { cout: Math.max(8, w5 >> 1), k: 1, act: 'RELU' }), { cout: w5, k: 5, act: 'RELU' });
  const bp = conv(g, g.pool(pool, x, 3, 1, 'SAME'), { cout: wp, k: 1, act: 'RELU' });
  return g.concat([b1, b3, b5, bp]);
}

/** SqueezeNet fire module: 1x1 squeeze, then 1x1 and 3x3 expands concatenated. */
export function fire(g: TfliteNetBuilder, x: TfliteRef, squeeze: number, expand: number): TfliteRef {
  const s = conv(g, x, { cout: squeeze, k: 1, act: 'RELU' });
  return g.concat([conv(g, s, { cout: expand, k: 1, act: 'RELU' }), conv(g, s, { cout: expand, k: 3, act: 'RELU' })]);
}
