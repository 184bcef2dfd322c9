import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { maxArch } from '../../src/core/arch';
import { getSpace } from '../../src/core/space';
import { initEngine, oneThreadForLatency } from '../../src/training/engine';
import { ElasticSupernet } from '../../src/training/supernet';
import { tempDir } from '../helpers';

/** Engine threads and a digest of the max subnet's gradients on a seeded batch, in this process. */
async function gradientDigest(): Promise<{ threads: number; digest: string }> {
  const { tf, threads } = await initEngine('wasm');
  const space = getSpace('ofa-mbv3-tiny');
  const net = new ElasticSupernet(tf, space, { inputChannels: 1, numClasses: 10 }, 1);
  net.setActiveSubnet(maxArch(space, 24));
  const x = tf.randomNormal([4, 24, 24, 1], 0, 1, 'float32', 7);
  const labels = tf.oneHot(tf.tensor1d([0, 3, 6, 9], 'int32'), 10);
  const { grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(labels, net.forward(x as never, { training: true })) as never, net.trainableVariables());
  const hash = createHash('sha256');
  for (const name of Object.keys(grads).sort()) hash.update(Buffer.from((grads[name].dataSync() as Float32Array).buffer));
  return { threads, digest: hash.digest('hex') };
}

if (process.env.TAILOR_TEST_ENGINE_CHILD === 'latency') {
  // A process that times latency asks for one thread before the engine starts.
  void (async () => {
    const asked = oneThreadForLatency();
    const { threads } = await initEngine('wasm');
    process.stdout.write(JSON.stringify({ asked, threads, again: oneThreadForLatency() }));
    process.exit(0);
  })();
} else if (process.env.TAILOR_TEST_ENGINE_CHILD === 'pick') {
  // Which backend the engine picks on its own, and that it computes.
  void initEngine().then(({ tf, backend, note }) => {
    process.stdout.write(JSON.stringify({ backend, note, sum: tf.tensor1d([1, 2, 3]).sum().dataSync()[0] }));
    process.exit(0);
  });
} else if (process.env.TAILOR_TEST_ENGINE_CHILD) {
  void gradientDigest().then((r) => {
    process.stdout.write(JSON.stringify(r));
    process.exit(0);
  });
} else {
  describe('training engine threads', () => {
    it('runs XNNPACK on several threads and gives bit-identical gradients to one thread', async () => {
      const child = (threads: number) =>
        JSON.parse(execFileSync(process.execPath, [__filename], { env: { ...process.env, TAILOR_TEST_ENGINE_CHILD: '1', TAILOR_THREADS: String(threads) }, encoding: 'utf8' })) as { threads: number; digest: string };
      const one = child(1);
      const two = child(2);
      assert.equal(one.threads, 1);
      assert.equal(two.threads, 2, 'the threaded build started its pool');
      assert.equal(two.digest, one.digest, 'gradients do not depend on the thread count');
      const latency = JSON.parse(execFileSync(process.execPath, [__filename], { env: { ...process.env, TAILOR_TEST_ENGINE_CHILD: 'latency', TAILOR_THREADS: '2' }, encoding: 'utf8' }));
      assert.deepEqual(latency, { asked: true, threads: 1, again: true }, 'a process that times latency trains on one thread');
    });

    it('uses @tensorflow/tfjs-node when it is installed, wasm otherwise', () => {
      // tfjs-node cannot be installed here (it downloads libtensorflow): a stand-in package on NODE_PATH
      // registers a "tensorflow" backend made of tfjs's cpu kernels, as tfjs-node registers its own.
      const fake = path.join(tempDir(), 'node_modules', '@tensorflow', 'tfjs-node');
      fs.mkdirSync(fake, { recursive: true });
      fs.writeFileSync(path.join(fake, 'package.json'), JSON.stringify({ name: '@tensorflow/tfjs-node', main: 'index.js' }));
      fs.writeFileSync(
        path.join(fake, 'index.js'),
        `const tf = require(${JSON.stringify(require.resolve('@tensorflow/tfjs'))});
const { MathBackendCPU } = require(${JSON.stringify(require.resolve('@tensorflow/tfjs-backend-cpu'))});
tf.registerBackend('tensorflow', () => new MathBackendCPU(), 3);
for (const k of tf.getKernelsForBackend('cpu')) tf.registerKernel({ ...k, backendName: 'tensorflow' });
`,
      );
      const pick = (nodePath?: string) =>
        JSON.parse(execFileSync(process.execPath, [__filename], { env: { ...process.env, TAILOR_TEST_ENGINE_CHILD: 'pick', NODE_PATH: nodePath ?? '' }, encoding: 'utf8' })) as { backend: string; note: string; sum: number };
      assert.deepEqual(pick(path.dirname(path.dirname(fake))), { backend: 'tensorflow', note: '@tensorflow/tfjs-node is installed', sum: 6 });
      assert.deepEqual(pick(), { backend: 'wasm', note: 'default (tfjs-node not installed)', sum: 6 });
    });
  });
}
