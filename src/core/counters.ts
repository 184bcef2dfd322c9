import { IrNode, ModelIR, Piece, allNodes, hasBias } from './ir';

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
  switch (node.op) {
    case 'conv': {
      const params = node.outChannels * (node.inChannels / node.groups) * node.kernelSize * node.kernelSize;
      const outElements = node.outShape[1] * node.outShape[2];
      return { params, macs: params * outElements, storedValues: params + (hasBias(node) ? node.outChannels : 0) };
    }
    case 'linear': {
      const params = node.inFeatures * node.outFeatures;
      return { params, macs: params, storedValues: params + node.outFeatures };
    }
    default:
      return { params: 0, macs: 0, storedValues: 0 };
  }
}

function sum(nodes: IrNode[]): NodeCounts {
  const total = { params: 0, macs: 0, storedValues: 0 };
  for (const n of nodes) {
    const c = countNode(n);
    total.params += c.params;
    total.macs += c.macs;
    total.storedValues += c.storedValues;
  }
  return total;
}

export function countPiece(piece: Piece): NodeCounts {
  return sum(piece.nodes);
}

export function countModel(ir: ModelIR): { params: number; macs: number; sizeBytes: number } {
  const t = sum(allNodes(ir));
  return { params: t.params, macs: t.macs, sizeBytes: t.storedValues * 4 };
}
