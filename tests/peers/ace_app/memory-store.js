// An in-memory store for ACE, registered with ace.store.register() as ACE documents for custom adapters, for
// development mode (`nox -s check_peers`): ACE's default (Sequelize on sqlite3) needs a native module, which
// this test app does without. One process's memory: the bench runs ACE on PostgreSQL instead (config.json).
"use strict";

class MemoryStore {
  constructor() {
    this.values = new Map();
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
