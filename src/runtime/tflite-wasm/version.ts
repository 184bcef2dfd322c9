/** The runtime version recorded in fingerprints and tables, read without loading the runtime. */
export function tfliteVersion(): string {
  return `@tensorflow/tfjs-tflite ${require('@tensorflow/tfjs-tflite/package.json').version}`;
}
