/** The runtime version recorded in fingerprints and tables, read without loading the runtime. */
export function ortVersion(): string {
  return `onnxruntime-node ${require('onnxruntime-node/package.json').version}`;
}
