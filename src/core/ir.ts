import { BlockSpec, ConvSpec, NetSpec, ResidualBlockSpec, isResidualBlock, seChannels } from './net';
import { convOut, Activation } from './space';
import { blockKey, convKey, logitsKey, poolKey, residualKey } from './keys';

/** Tensor shape without the batch dimension: [channels, height, width]. */
export type Shape = [number, number, number];

interface NodeBase {
  /** Unique within the model; weights are named `${name}.weight` / `${name}.bias`. */
  name: string;
  inputs: string[];
  output: string;
  outShape: Shape;
}
export interface ConvNode extends NodeBase {
  op: 'conv';
  inShape: Shape;
  inChannels: number;
  outChannels: number;
  kernelSize: number;
  stride: number;
  groups: number;
  /** Followed by batch norm in training; folded into the bias for inference. */
  bn: boolean;
  /** Has a bias of its own (SE convs). */
  bias: boolean;
  act: Activation | null;
}
export interface PoolNode extends NodeBase {
  op: 'global_avg_pool';
  inShape: Shape;
}
/** Max pooling with padding kernelSize // 2 (a ResNet's stem). */
export interface MaxPoolNode extends NodeBase {
  op: 'max_pool';
  inShape: Shape;
  kernelSize: number;
  stride: number;
}
export interface BinaryNode extends NodeBase {
  /** add: residual; mul: SE channel gate broadcast over H x W. */
  op: 'add' | 'mul';
  /** Applied to the sum (a ResNet block's ReLU after its residual add). */
  act?: Activation;
}
export interface LinearNode extends NodeBase {
  op: 'linear';
  inFeatures: number;
  outFeatures: number;
}
export type IrNode = ConvNode | PoolNode | MaxPoolNode | BinaryNode | LinearNode;

/** Inference weights carry a bias when the layer has one or its batch norm is folded in. */
export function hasBias(node: ConvNode | LinearNode): boolean {
  return node.op === 'linear' || node.bn || node.bias;
}

export type PieceKind = 'stem' | 'block' | 'final_expand' | 'pool' | 'feature_mix' | 'logits';

/** One LUT entry's worth of network: the stem, one block, or one head piece. */
export interface Piece {
  id: string;
  kind: PieceKind;
  key: string;
  input: string;
  inShape: Shape;
  output: string;
  outShape: Shape;
  nodes: IrNode[];
}

export interface ModelIR {
  input: string;
  inShape: Shape;
  output: string;
  outShape: Shape;
  pieces: Piece[];
  net: NetSpec;
}

class PieceBuilder {
  readonly nodes: IrNode[] = [];
  constructor(readonly id: string, public current: string, public shape: Shape) {}

  conv(suffix: string, spec: Omit<ConvSpec, 'inChannels'> & { groups?: number; bias?: boolean }): string {
    const [c, h, w] = this.shape;
    const outShape: Shape = [spec.outChannels, convOut(h, spec.stride), convOut(w, spec.stride)];
    const name = `${this.id}.${suffix}`;
    this.nodes.push({
      op: 'conv', name, inputs: [this.current], output: name, inShape: this.shape, outShape,
      inChannels: c, outChannels: spec.outChannels, kernelSize: spec.kernelSize, stride: spec.stride,
      groups: spec.groups ?? 1, bn: spec.bn, bias: spec.bias ?? false, act: spec.act,
    });
    this.current = name;
    this.shape = outShape;
    return name;
  }
  pool(suffix: string): string {
    const name = `${this.id}.${suffix}`;
    const outShape: Shape = [this.shape[0], 1, 1];
    this.nodes.push({ op: 'global_avg_pool', name, inputs: [this.current], output: name, inShape: this.shape, outShape });
    this.current = name;
    this.shape = outShape;
    return name;
  }
  maxPool(suffix: string, kernelSize: number, stride: number): string {
    const name = `${this.id}.${suffix}`;
    const outShape: Shape = [this.shape[0], convOut(this.shape[1], stride), convOut(this.shape[2], stride)];
    this.nodes.push({ op: 'max_pool', name, inputs: [this.current], output: name, inShape: this.shape, outShape, kernelSize, stride });
    this.current = name;
    this.shape = outShape;
    return name;
  }
  binary(op: 'add' | 'mul', suffix: string, a: string, b: string, outShape: Shape, act?: Activation): string {
    const name = `${this.id}.${suffix}`;
    this.nodes.push({ op, name, inputs: [a, b], output: name, outShape, ...(act ? { act } : {}) });
    this.current = name;
    this.shape = outShape;
    return name;
  }
  linear(suffix: string, inFeatures: number, outFeatures: number): string {
    const name = `${this.id}.${suffix}`;
    const outShape: Shape = [outFeatures, 1, 1];
    this.nodes.push({ op: 'linear', name, inputs: [this.current], output: name, outShape, inFeatures, outFeatures });
    this.current = name;
    this.shape = outShape;
    return name;
  }
}

function buildBlock(pb: PieceBuilder, b: BlockSpec): void {
  const input = pb.current;
  const inShape = pb.shape;
  if (b.expandRatio !== 1) pb.conv('expand', { outChannels: b.midChannels, kernelSize: 1, stride: 1, bn: true, act: b.act });
  pb.conv('depthwise', { outChannels: b.midChannels, kernelSize: b.kernelSize, stride: b.stride, groups: b.midChannels, bn: true, act: b.act });
  if (b.se) {
    const x = pb.current;
    const xShape = pb.shape;
    pb.pool('se.pool');
    pb.conv('se.reduce', { outChannels: seChannels(b.midChannels), kernelSize: 1, stride: 1, bn: false, bias: true, act: 'relu' });
    pb.conv('se.expand', { outChannels: b.midChannels, kernelSize: 1, stride: 1, bn: false, bias: true, act: 'h_sigmoid' });
    pb.binary('mul', 'se.scale', x, pb.current, xShape);
  }
  pb.conv('project', { outChannels: b.outChannels, kernelSize: 1, stride: 1, bn: true, act: null });
  if (b.residual) pb.binary('add', 'add', pb.current, input, inShape);
}

function buildResidualBlock(pb: PieceBuilder, b: ResidualBlockSpec): void {
  const input = pb.current;
  const inShape = pb.shape;
  if (b.type === 'bottleneck') {
    pb.conv('reduce', { outChannels: b.midChannels, kernelSize: 1, stride: 1, bn: true, act: 'relu' });
    pb.conv('conv', { outChannels: b.midChannels, kernelSize: b.kernelSize, stride: b.stride, bn: true, act: 'relu' });
    pb.conv('expand', { outChannels: b.outChannels, kernelSize: 1, stride: 1, bn: true, act: null });
  } else {
    pb.conv('conv1', { outChannels: b.outChannels, kernelSize: b.kernelSize, stride: b.stride, bn: true, act: 'relu' });
    pb.conv('conv2', { outChannels: b.outChannels, kernelSize: b.kernelSize, stride: 1, bn: true, act: null });
  }
  const main = pb.current;
  const outShape = pb.shape;
  let shortcut = input;
  if (b.stride !== 1 || b.inChannels !== b.outChannels) {
    pb.current = input;
    pb.shape = inShape;
    shortcut = pb.conv('shortcut', { outChannels: b.outChannels, kernelSize: 1, stride: b.stride, bn: true, act: null });
  }
  pb.binary('add', 'add', main, shortcut, outShape, 'relu');
}

/** The one network builder: NetSpec -> pieces with shapes. Every exporter and counter reads this. */
export function buildIR(net: NetSpec): ModelIR {
  const pieces: Piece[] = [];
  let current = 'input';
  let shape: Shape = [net.inputChannels, net.resolution, net.resolution];
  const inShape = shape;
  const add = (id: string, kind: PieceKind, fill: (pb: PieceBuilder) => void, key: (inS: Shape, outS: Shape) => string) => {
    const pb = new PieceBuilder(id, current, shape);
    fill(pb);
    pieces.push({ id, kind, key: key(shape, pb.shape), input: current, inShape: shape, output: pb.current, outShape: pb.shape, nodes: pb.nodes });
    current = pb.current;
    shape = pb.shape;
  };
  const stemPool = net.stemPool;
  add('stem', 'stem', (pb) => {
    pb.conv('conv', net.stem);
    if (stemPool) pb.maxPool('pool', stemPool.kernelSize, stemPool.stride);
  }, (i, o) => convKey('Conv', i, o) + (stemPool ? `-maxpool:${stemPool.kernelSize}` : ''));
  net.blocks.forEach((b, i) => {
    if (isResidualBlock(b)) add(`blocks.${i}`, 'block', (pb) => buildResidualBlock(pb, b), (inS, outS) => residualKey(inS, outS, b));
    else add(`blocks.${i}`, 'block', (pb) => buildBlock(pb, b), (inS, outS) => blockKey(inS, outS, b));
  });
  if (net.finalExpand) {
    const fe = net.finalExpand;
    add('final_expand', 'final_expand', (pb) => pb.conv('conv', fe), (i, o) => convKey('Conv_1', i, o));
  }
  const fm = net.featureMix;
  if (fm && !net.featureMixAfterPool) add('feature_mix', 'feature_mix', (pb) => pb.conv('conv', fm), (i, o) => convKey('Conv_1', i, o));
  add('pool', 'pool', (pb) => pb.pool('pool'), (i, o) => poolKey(i, o));
  if (fm && net.featureMixAfterPool) add('feature_mix', 'feature_mix', (pb) => pb.conv('conv', fm), (i, o) => convKey('Conv_2', i, o));
  add('classifier', 'logits', (pb) => pb.linear('linear', net.classifier.inFeatures, net.classifier.outFeatures), (i, o) => logitsKey(i, o));
  return { input: 'input', inShape, output: current, outShape: shape, pieces, net };
}

export function allNodes(ir: ModelIR): IrNode[] {
  return ir.pieces.flatMap((p) => p.nodes);
}
