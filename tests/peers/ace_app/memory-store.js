// An in-memory store for ACE, registered with ace.store.register() as ACE documents for custom adapters:
// ACE's default (Sequelize on sqlite3) needs a native module, which this test app does without.
//
// Opt-in seed, for the benchmark (benchmarks/peers.py): ACE_STORE_SEED names a JSON file holding a list of
// clientInfo records, as ACE's /installed stores them, loaded when the store is made. This store lives in one
// process, so under node cluster an install would reach one worker only: every worker loads the same tenants
// from the seed instead.
"use strict";

const fs = require("fs");

class MemoryStore {
  constructor() {
    this.values = new Map();
    const seed = process.env.ACE_STORE_SEED;
    if (seed) {
      for (const clientInfo of JSON.parse(fs.readFileSync(seed, "utf8"))) {
        this.values.set(MemoryStore.keyOf("clientInfo", clientInfo.clientKey), clientInfo);
      }
    }
  }

  static keyOf(key, clientKey) {
    return `${clientKey || ""}\u0000${key}`;
  }

  async get(key, clientKey) {
    const value = this.values.get(MemoryStore.keyOf(key, clientKey));
    return value === undefined ? null : structuredClone(value);
  }

  async set(key, value, clientKey) {
    const stored = typeof value === "string" ? JSON.parse(value) : value;
    this.values.set(MemoryStore.keyOf(key, clientKey), structuredClone(stored));
    return this.get(key, clientKey);
  }

  async saveInstallation(value, clientKey) {
    return this.set("clientInfo", value, clientKey);
  }

  async del(key, clientKey) {
    this.values.delete(MemoryStore.keyOf(key, clientKey));
  }

  async getAllClientInfos() {
    return [...this.values.entries()].filter(([key]) => key.endsWith("\u0000clientInfo")).map(([, value]) => value);
  }

  isMemoryStore() {
    return true;
  }

  async getClientSettingsForForgeInstallation() {
    return null;
  }

  async associateInstallations() {}

  async deleteAssociation() {}
}

module.exports = function memoryStore(logger, opts) {
  return new MemoryStore(logger, opts);
};
