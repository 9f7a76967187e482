// A minimal Connect app on atlassian-connect-express (ACE), written as its documentation shows, for
// `nox -s check_peers`: fake_jira's check runs against it, and its verdicts on a real framework are asserted;
// and for the bench's ACE scenarios (benchmarks/peers.py).
// ACE reads config.json and atlassian-connect.json from this directory; PORT and AC_LOCAL_BASE_URL say where
// it listens and its baseUrl, CONNECT_KEYS_CDN_URL where it fetches install keys. NODE_ENV picks the store:
// development an in-memory one (memory-store.js), production ACE's Sequelize store on DATABASE_URL's
// PostgreSQL, as ACE's own app template deploys it.
"use strict";

const fs = require("fs");
const express = require("express");
const ace = require("atlassian-connect-express");
const memoryStore = require("./memory-store");

ace.store.register("memory", memoryStore);

const app = express();
app.use(express.json());
const addon = ace(app);
app.use(addon.middleware());

// ACE sets up /installed itself; /uninstalled is the app's, protected as ACE's documentation shows. The
// tenant is forgotten: an uninstalled tenant's tokens must no longer be accepted.
app.post("/uninstalled", addon.authenticateInstall(), async (req, res) => {
  await addon.settings.del("clientInfo", req.body.clientKey);
  res.status(204).send();
});

// The page module: Jira loads it in an iframe with a jwt query parameter.
app.get("/hello", addon.authenticate(), (req, res) => {
  res.json({ clientKey: req.context.clientKey, userAccountId: req.context.userAccountId || null });
});

// What the page's JavaScript calls with AP.context.getToken(): ACE's checkValidToken() accepts context tokens.
app.get("/api/whoami", addon.checkValidToken(), (req, res) => {
  res.json({ clientKey: req.context.clientKey, baseUrl: req.context.hostBaseUrl });
});

// ACE registers a route for every webhook in the descriptor and emits the event; answering is ours.
addon.on("jira:issue_created", () => {});

// Opt-in, for the bench: ACE_STORE_SEED names a JSON file of clientInfo records, the body ACE's /installed
// stores, saved through ACE's own settings API before the port opens.
async function seed() {
  const file = process.env.ACE_STORE_SEED;
  if (!file) {
    return;
  }
  for (const clientInfo of JSON.parse(fs.readFileSync(file, "utf8"))) {
    await addon.settings.set("clientInfo", clientInfo, clientInfo.clientKey);
  }
}

seed().then(
  () => {
    const port = addon.config.port();
    app.listen(port, "127.0.0.1", () => {
      console.log(`ACE app listening on 127.0.0.1:${port}`);
    });
  },
  error => {
    console.error(`seeding the store failed: ${error.stack || error}`);
    process.exit(1);
  }
);
