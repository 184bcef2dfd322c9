/**
 * Cost of one scalar operation in MACs, as onnx-tool counts them (ThanatosShinji/onnx-tool,
 * onnx_tool/node.py): every instruction counts as one MAC, except that division, exp, log,
 * sqrt and the trigonometric functions cost what their vectorized implementations take.
 * docs/model-analysis.md lists how each op combines them.
 */
export const MUL = 1;
export const ADD = 1;
export const CMP = 1;
export const DIV = 4;
export const EXP = 32;
export const POW = EXP;
export const LOG = 43;
export const SQRT = 24;
export const SIN = 39;
export const COS = 39;
/** tanh(x) = (e^2x - 1) / (e^2x + 1) */
export const TANH = EXP + 2 * ADD + DIV;
/** Per output element of Resize/Upsample; nearest costs nothing. */
export const RESIZE_LINEAR = 4;
export const RESIZE_CUBIC = 8;
