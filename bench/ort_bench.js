// The ONNX Runtime peer: onnxruntime-node (CPU execution provider) on the
// models bench/onnx_export.py wrote from the same weights files; 2 intra-op
// threads (or THREADS), all graph optimisations, sequential execution; the
// same measuring loop as bench/engine_bench.c and bench/torch_bench.py (two
// warm-up runs, then runs until SECONDS have passed and at least 5 ran;
// images/s over the timed runs, p50/p99 of one batch's latency).
//
// usage: node bench/ort_bench.js ORT_DIR ONNX_DIR THREADS SECONDS MODELS BATCHES
//   ORT_DIR: where bench/ort-setup installed onnxruntime-node
//   ONNX_DIR: holds <model>.onnx
"use strict";
const path = require("path");

async function main() {
  const [ortDir, onnxDir, threads, seconds, models, batches] = process.argv.slice(2);
  if (!batches) {
    console.error("usage: ort_bench.js ORT_DIR ONNX_DIR THREADS SECONDS MODELS BATCHES");
    process.exit(2);
  }
  const ort = require(path.join(path.resolve(ortDir), "node_modules", "onnxruntime-node"));
  const opts = {
    executionProviders: ["cpu"],
    intraOpNumThreads: Number(threads),
    interOpNumThreads: 1,
    graphOptimizationLevel: "all",
    executionMode: "sequential",
  };
  const pad = (s, n) => String(s).padStart(n);
  console.log(`${"model".padEnd(9)} ${pad("batch", 5)} ${pad("images/s", 10)} ` +
              `${pad("p50_ms", 10)} ${pad("p99_ms", 10)}`);
  for (const name of models.split(",")) {
    const sess = await ort.InferenceSession.create(path.join(onnxDir, `${name}.onnx`), opts);
    for (const b of batches.split(",").map(Number)) {
      const n = b * 3 * 224 * 224, data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = ((Math.imul(i, 2654435761) >>> 0) % 1000) / 500 - 1;
      const feeds = { input: new ort.Tensor("float32", data, [b, 3, 224, 224]) };
      await sess.run(feeds);
      await sess.run(feeds);
      const lat = [];
      let total = 0;
      while (total < Number(seconds) || lat.length < 5) {
        const t0 = process.hrtime.bigint();
        await sess.run(feeds);
        const dt = Number(process.hrtime.bigint() - t0) / 1e9;
        lat.push(dt);
        total += dt;
      }
      lat.sort((x, y) => x - y);
      console.log(`${name.padEnd(9)} ${pad(b, 5)} ${pad((lat.length * b / total).toFixed(1), 10)} ` +
                  `${pad((lat[lat.length >> 1] * 1e3).toFixed(2), 10)} ` +
                  `${pad((lat[Math.floor(lat.length * 0.99)] * 1e3).toFixed(2), 10)}`);
    }
    await sess.release();
  }
}

main().catch((e) => {
  console.error(`ort_bench: ${e.message || e}`);
  process.exit(1);
});
