// app.js under node's cluster module, for the benchmark's ace_cluster scenario (benchmarks/peers.py):
// ACE_WORKERS processes (2 by default) each run app.js and share its port, the primary handing out the
// connections. The workers share one store (production mode: PostgreSQL), so a tenant installed or rotated
// through one of them is seen by all.
"use strict";

const cluster = require("cluster");

if (cluster.isPrimary) {
  const workers = Number(process.env.ACE_WORKERS || 2);
  for (let i = 0; i < workers; i += 1) {
    cluster.fork();
  }
  // A worker that dies would leave the run measuring fewer workers than it says: stop everything instead.
  cluster.on("exit", (worker, code, signal) => {
    console.error(`worker ${worker.process.pid} exited (${signal || code}): stopping the cluster`);
    process.exit(1);
  });
  process.on("SIGTERM", () => {
    cluster.removeAllListeners("exit");
    for (const worker of Object.values(cluster.workers)) {
      worker.process.kill("SIGTERM");
    }
    process.exit(0);
  });
} else {
  require("./app");
}
