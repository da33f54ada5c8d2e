// Logits from ONNX Runtime (onnxruntime-node, CPU) for tests/onnx_roundtrip.py:
// runs raw float32 (3,224,224) inputs through MODEL.onnx in groups of BATCH
// with the benchmark's session options and writes the (N,1000) float32
// logits to OUT.
//
// usage: node tests/ort_logits.js ORT_DIR MODEL.onnx OUT BATCH IN.raw...
"use strict";
const fs = require("fs");
const path = require("path");

async function main() {
  const [ortDir, model, out, batchArg, ...inputs] = process.argv.slice(2);
  const batch = Number(batchArg);
  if (!inputs.length || !(batch > 0)) {
    console.error("usage: ort_logits.js ORT_DIR MODEL.onnx OUT BATCH IN.raw...");
    process.exit(2);
  }
  const ort = require(path.join(path.resolve(ortDir), "node_modules", "onnxruntime-node"));
  const sess = await ort.InferenceSession.create(model, {
    executionProviders: ["cpu"],
    intraOpNumThreads: 2,
    interOpNumThreads: 1,
    graphOptimizationLevel: "all",
    executionMode: "sequential",
  });
  const per = 3 * 224 * 224, chunks = [];
  for (let i = 0; i < inputs.length; i += batch) {
    const group = inputs.slice(i, i + batch), data = new Float32Array(group.length * per);
    group.forEach((p, k) => {
      const buf = fs.readFileSync(p);
      if (buf.length !== per * 4) throw new Error(`${p}: ${buf.length} bytes, want ${per * 4}`);
      data.set(new Float32Array(buf.buffer, buf.byteOffset, per), k * per);
    });
    const res = await sess.run({ input: new ort.Tensor("float32", data, [group.length, 3, 224, 224]) });
    chunks.push(Buffer.from(res.logits.data.buffer, res.logits.data.byteOffset, res.logits.data.byteLength));
  }
  fs.writeFileSync(out, Buffer.concat(chunks));
  await sess.release();
}

main().catch((e) => {
  console.error(`ort_logits: ${e.message || e}`);
  process.exit(1);
});
