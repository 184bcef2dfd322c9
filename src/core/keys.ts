/**
 * LUT keys in OFA's canonical string form, so OFA tables import and export without loss:
 *   expanded_conv-input:112x112x24-output:56x56x32-expand:144-kernel:3-stride:2-idskip:0-se:0-hs:0
 *   Conv-input:224x224x3-output:112x112x24, Conv_1-..., AvgPool2D-..., Conv_2-..., Logits-input:1x1x1536-output:1000
 */
type Shape = readonly [number, number, number];

const hwc = (s: Shape) => `${s[1]}x${s[2]}x${s[0]}`;

export function convKey(name: 'Conv' | 'Conv_1' | 'Conv_2', inShape: Shape, outShape: Shape): string {
  return `${name}-input:${hwc(inShape)}-output:${hwc(outShape)}`;
}

export function poolKey(inShape: Shape, outShape: Shape): string {
  return `AvgPool2D-input:${hwc(inShape)}-output:${hwc(outShape)}`;
}

export function logitsKey(inShape: Shape, outShape: Shape): string {
  return `Logits-input:${hwc(inShape)}-output:${outShape[0]}`;
}

export interface BlockKeyParts {
  midChannels: number;
  kernelSize: number;
  stride: number;
  residual: boolean;
  se: boolean;
  act: string;
}

export function blockKey(inShape: Shape, outShape: Shape, b: BlockKeyParts): string {
  return (
    `expanded_conv-input:${hwc(inShape)}-output:${hwc(outShape)}-expand:${b.midChannels}` +
    `-kernel:${b.kernelSize}-stride:${b.stride}-idskip:${b.residual ? 1 : 0}-se:${b.se ? 1 : 0}-hs:${b.act === 'h_swish' ? 1 : 0}`
  );
}

/**
 * A ResNet block (OFA's tables hold no ResNets; the key only has to name the block uniquely):
 *   residual-input:56x56x64-output:28x28x128-mid:128-kernel:3-stride:2-bottleneck:0-proj:1
 */
export function residualKey(inShape: Shape, outShape: Shape, b: { type: 'basic' | 'bottleneck'; midChannels: number; kernelSize: number; stride: number }): string {
  const projection = b.stride !== 1 || inShape[0] !== outShape[0];
  return (
    `residual-input:${hwc(inShape)}-output:${hwc(outShape)}-mid:${b.midChannels}` +
    `-kernel:${b.kernelSize}-stride:${b.stride}-bottleneck:${b.type === 'bottleneck' ? 1 : 0}-proj:${projection ? 1 : 0}`
  );
}

const KEY_RE = /^(expanded_conv|Conv|Conv_1|Conv_2|AvgPool2D|Logits)-input:(\d+)x(\d+)x(\d+)-output:(\d+)(?:x(\d+)x(\d+))?((?:-[a-z_]+:\d+)*)$/;

/** Parses a key; null when it is not in OFA's form. */
export function parseKey(key: string): { op: string; input: number[]; output: number[]; attrs: Record<string, number> } | null {
  const m = KEY_RE.exec(key);
  if (!m) return null;
  const attrs: Record<string, number> = {};
  for (const part of m[8].split('-').filter(Boolean)) {
    const [k, v] = part.split(':');
    attrs[k] = Number(v);
  }
  const output = m[6] === undefined ? [Number(m[5])] : [Number(m[5]), Number(m[6]), Number(m[7])];
  return { op: m[1], input: [Number(m[2]), Number(m[3]), Number(m[4])], output, attrs };
}
