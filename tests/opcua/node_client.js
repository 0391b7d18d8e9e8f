// An independent OPC UA client (node-opcua) against `linectl opcua`, driven by
// tests/opcua/test_node_opcua.py: one JSON object per "RESULT " line on stdout
// (node-opcua writes its own notices there too).
"use strict";
const opcua = require("node-opcua");
const {
  OPCUAClient, MessageSecurityMode, SecurityPolicy, UserTokenType, AttributeIds,
  TimestampsToReturn, ClientSubscription, ClientMonitoredItem, OPCUACertificateManager,
} = opcua;

const cfg = JSON.parse(process.argv[2]);
const out = (obj) => process.stdout.write("RESULT " + JSON.stringify(obj) + "\n");
setTimeout(() => { out({ error: "timed out" }); process.exit(2); }, 120000);

async function connect(mode, policy) {
  const client = OPCUAClient.create({
    applicationName: "linectl tests node-opcua",
    applicationUri: cfg.applicationUri,
    securityMode: mode,
    securityPolicy: policy,
    certificateFile: cfg.certFile,
    privateKeyFile: cfg.keyFile,
    clientCertificateManager: new OPCUACertificateManager({
      rootFolder: cfg.pki, automaticallyAcceptUnknownCertificate: true,
    }),
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
  });
  await client.connect(cfg.url);
  return client;
}

function waitFor(check) {
  return new Promise((resolve) => {
    const poll = () => (check() ? resolve() : waiters.push(poll));
    poll();
  });
}
const waiters = [];
const wake = () => { const now = waiters.splice(0); now.forEach((w) => w()); };

async function call(session, ns, method) {
  const object = `ns=${ns};s=${cfg.line}.BaseStateMachine.MachineState.ExecuteState`;
  const result = await session.call({ objectId: object, methodId: `${object}.${method}`, inputArguments: [] });
  return result.statusCode.name;
}

async function main() {
  const secure = [MessageSecurityMode.SignAndEncrypt, SecurityPolicy.Basic256Sha256];
  const client = await connect(...secure);
  const session = await client.createSession({
    type: UserTokenType.UserName, userName: cfg.user, password: cfg.password,
  });
  const ns = (await session.readNamespaceArray()).indexOf("urn:linectl:serialization");
  const sub = ClientSubscription.create(session, {
    requestedPublishingInterval: 50, requestedLifetimeCount: 600, requestedMaxKeepAliveCount: 20,
    maxNotificationsPerPublish: 1000, publishingEnabled: true, priority: 1,
  });
  const states = [];
  const processed = [];
  const watch = (path, sink) => {
    const item = ClientMonitoredItem.create(
      sub, { nodeId: `ns=${ns};s=${cfg.line}.${path}`, attributeId: AttributeIds.Value },
      { samplingInterval: 0, discardOldest: false, queueSize: 100 }, TimestampsToReturn.Both);
    item.on("changed", (dv) => { sink(dv.value.value); wake(); });
  };
  watch("BaseStateMachine.MachineState.ExecuteState.CurrentState.Number", (v) => states.push(v));
  watch("Admin.ProdProcessedCount", (v) => {
    const first = Array.isArray(v) && v.length ? v[0] : null;
    processed.push(first && first.count !== undefined ? first.count : null);
  });
  await waitFor(() => states.length > 0 && processed.length > 0);
  out({ ready: true });
  await waitFor(() => states[states.length - 1] === 6);
  await waitFor(() => processed.filter((c) => c > 0).length >= 2);
  const hold = await call(session, ns, "Hold");
  await waitFor(() => states[states.length - 1] === 11);
  const unhold = await call(session, ns, "Unhold");
  await waitFor(() => states[states.length - 1] === 6);
  out({ states, processed, hold, unhold, securityMode: MessageSecurityMode[client.securityMode] });
  await sub.terminate();
  await session.close();
  await client.disconnect();

  const qaClient = await connect(...secure);
  const qa = await qaClient.createSession({
    type: UserTokenType.UserName, userName: cfg.qaUser, password: cfg.qaPassword,
  });
  out({ qaHold: await call(qa, ns, "Hold") });
  await qa.close();
  await qaClient.disconnect();

  const anonClient = await connect(...secure);
  try {
    await anonClient.createSession();
    out({ anonymous: "accepted" });
  } catch (err) {
    out({ anonymous: String(err.message || err) });
  }
  await anonClient.disconnect();

  try {
    const plain = await connect(MessageSecurityMode.None, SecurityPolicy.None);
    try {
      await plain.createSession({ type: UserTokenType.UserName, userName: cfg.user, password: cfg.password });
      out({ none: "accepted" });
    } catch (err) {
      out({ none: String(err.message || err) });
    }
    await plain.disconnect();
  } catch (err) {
    out({ none: String(err.message || err) });
  }
}

main().then(() => process.exit(0), (err) => { out({ error: String(err.stack || err) }); process.exit(1); });
