import { IrNode, ModelIR, Piece, hasBias } from './ir';

/**
 * Counted the way OFA's flops counter does: every conv (depthwise and SE included) and
 * linear layer; MACs = output elements x (input channels / groups) x k x k; bias excluded
 * from params and MACs. sizeBytes is the fp32 inference weight size (BN folded into biases).
 */
export interface NodeCounts {
  params: number;
  macs: number;
  /** fp32 tensors stored for inference: weights plus biases (BN folded). */
  storedValues: number;
}

export function countNode(node: IrNode): NodeCounts {
  const c = { params: 0, macs: 0, storedValues: 0 };
  accumulate(c, node);
  return c;
}

/** Adds one node's counts to `total` (no allocation: countModel runs once per network a search evaluates). */
function accumulate(total: NodeCounts, node: IrNode): void {
  switch (node.op) {
    case 'conv': {
      const params = node.outChannels * (node.inChannels / node.groups) * node.kernelSize * node.kernelSize;
      total.params += params;
      total.macs += params * (node.outShape[1] * node.outShape[2]);
      total.storedValues += params + (hasBias(node) ? node.outChannels : 0);
      return;
    }
    case 'linear': {
      const params = node.inFeatures * node.outFeatures;
      total.params += params;
      total.macs += params;
      total.storedValues += params + node.outFeatures;
      return;
    }
  }
}

export function countPiece(piece: Piece): NodeCounts {
  const total = { params: 0, macs: 0, storedValues: 0 };
  for (const node of piece.nodes) accumulate(total, node);
  return total;
}

export function countModel(ir: ModelIR): { params: number; macs: number; sizeBytes: number } {
  const total = { params: 0, macs: 0, storedValues: 0 };
  for (const piece of ir.pieces) for (const node of piece.nodes) accumulate(total, node);
  return { params: total.params, macs: total.macs, sizeBytes: total.storedValues * 4 };
}
