// Acknowledged delivery between real node-ipc 9.2.1, @achrinza/node-ipc
// 10.1.11 and node-ipc 14.0.0 processes, each with the companion attached.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { endpoint, libs, startPeer } from './helpers.mjs';

const restarts = 5;
const perRound = 400;

/**
 * checkRecord reads a durable receiver's "session seq" lines and counts,
 * for session, the messages 1..total lost, duplicated and out of order.
 * @param {string} file
 * @param {string} session
 * @param {number} total
 */
function checkRecord(file, session, total) {
  const seqs = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean)
    .map((l) => l.split(' ')).filter(([s]) => s === session).map(([, n]) => Number(n));
  const seen = new Set();
  let duplicated = 0;
  let outOfOrder = 0;
  let last = 0;
  for (const n of seqs) {
    if (seen.has(n)) duplicated++;
    else if (n !== last + 1) outOfOrder++;
    seen.add(n);
    last = Math.max(last, n);
  }
  let lost = 0;
  for (let n = 1; n <= total; n++) if (!seen.has(n)) lost++;
  return { received: seqs.length, lost, duplicated, outOfOrder };
}

const restartCases = [
  ...libs.flatMap((c) => libs.map((s) => ({ c, s, transport: /** @type {const} */ ('unix') }))),
  ...libs.map((l) => ({ c: l, s: l, transport: /** @type {const} */ ('tcp') })),
];

// The peers mostly wait on each other: a few pairs run at once.
describe('acknowledged delivery', { concurrency: 3 }, () => {
  for (const { c, s, transport } of restartCases) {
    test(`acks: node-ipc ${c} client to a durable node-ipc ${s} server over ${transport}, ` +
      `the server killed (SIGKILL) and restarted ${restarts} times`, async (t) => {
      const ep = await endpoint(t, transport);
      const record = path.join(ep.dir, 'record.txt');
      const serverOpts = { lib: s, role: 'server', ...ep.opts, acks: true, durable: record };
      let server = await startPeer(t, `server ${s}`, serverOpts);
      const client = await startPeer(t, `client ${c}`, { lib: c, role: 'client', ...ep.opts, acks: true, retry: 20, quiet: true });
      await client.next('connect');
      for (let round = 0; round < restarts; round++) {
        client.send({ cmd: 'send', count: perRound, yieldEvery: 10 });
        await server.next('progress'); // this incarnation has delivered 100 messages
        await server.kill();
        server = await startPeer(t, `server ${s} (${round + 2})`, serverOpts);
      }
      client.send({ cmd: 'send', count: perRound, yieldEvery: 10 });
      // flush waits for what was emitted: the last send loop, which yields, must be done.
      await client.next('sent', (e) => e.last === perRound * (restarts + 1));
      client.send({ cmd: 'flush' });
      const flushed = await client.next('flushed');
      assert.equal(flushed.ev, 'flushed');
      const st = await client.stats();
      const total = perRound * (restarts + 1);
      const r = checkRecord(record, st.session, total);
      console.log(`node-ipc ${c} client -> node-ipc ${s} server over ${transport}: ${total} messages, ` +
        `${restarts} server restarts (SIGKILL): ${r.lost} lost, ${r.duplicated} duplicated, ` +
        `${r.outOfOrder} out of order (${st.stats.messagesResent} sent again after a restart)`);
      assert.deepEqual(r, { received: total, lost: 0, duplicated: 0, outOfOrder: 0 });
      assert.equal(st.stats.messagesAcknowledged, total);
      assert.equal(st.unacknowledged, 0);
    });
  }

  for (const l of libs) {
    test(`acks: node-ipc ${l} client to a node-ipc ${l} server without a durable record, ` +
      `killed and restarted ${restarts} times: nothing lost, repeats counted`, async (t) => {
      const ep = await endpoint(t, 'unix');
      const record = path.join(ep.dir, 'record.txt');
      const serverOpts = { lib: l, role: 'server', ...ep.opts, acks: true, durable: record, recordOnly: true };
      let server = await startPeer(t, `server ${l}`, serverOpts);
      const client = await startPeer(t, `client ${l}`, { lib: l, role: 'client', ...ep.opts, acks: true, retry: 20, quiet: true });
      await client.next('connect');
      for (let round = 0; round < restarts; round++) {
        client.send({ cmd: 'send', count: perRound, yieldEvery: 10 });
        await server.next('progress');
        await server.kill();
        server = await startPeer(t, `server ${l} (${round + 2})`, serverOpts);
      }
      client.send({ cmd: 'send', count: perRound, yieldEvery: 10 });
      // flush waits for what was emitted: the last send loop, which yields, must be done.
      await client.next('sent', (e) => e.last === perRound * (restarts + 1));
      client.send({ cmd: 'flush' });
      await client.next('flushed');
      const st = await client.stats();
      const total = perRound * (restarts + 1);
      const r = checkRecord(record, st.session, total);
      // A restarted receiver with no record takes the first message it gets as the start of
      // the stream, so what it had delivered and not acknowledged may come again; never a gap.
      console.log(`node-ipc ${l} client -> node-ipc ${l} server without a record over unix: ${total} messages, ` +
        `${restarts} server restarts (SIGKILL): ${r.lost} lost, ${r.duplicated} delivered again, ` +
        `${r.outOfOrder} out of order`);
      assert.deepEqual([r.lost, r.outOfOrder], [0, 0]);
    });

    test(`acks: node-ipc ${l} client that stops reconnecting reports its unacknowledged messages`, async (t) => {
      const ep = await endpoint(t, 'unix');
      const server = await startPeer(t, `server ${l}`, { lib: l, role: 'server', ...ep.opts, companion: false });
      const client = await startPeer(t, `client ${l}`, { lib: l, role: 'client', ...ep.opts, acks: true,
        maxRetries: 0, helloTimeout: 60000 });
      await client.next('connect');
      client.send({ cmd: 'send', count: 3 }); // the plain server never answers hello: nothing is acknowledged
      await client.next('sent');
      await server.kill();
      const e = await client.next('error');
      assert.deepEqual([e.code, e.unsent], ['ERR_IPC_DISCONNECTED', [1, 2, 3]]);
      client.send({ cmd: 'flush' });
      assert.equal((await client.next('flushError')).code, 'ERR_IPC_DISCONNECTED');
    });

    test(`acks: node-ipc ${l} server to a node-ipc ${l} client whose connection drops, ` +
      'published as ordinary node-ipc events', async (t) => {
      const ep = await endpoint(t, 'unix');
      const server = await startPeer(t, `server ${l}`, { lib: l, role: 'server', ...ep.opts, acks: true });
      const client = await startPeer(t, `client ${l}`, { lib: l, role: 'client', ...ep.opts, acks: true, retry: 20,
        publish: true, events: ['m'] });
      await client.next('connect');
      await server.next('connect');
      // The hello exchange is done once a message from the client is acknowledged.
      client.send({ cmd: 'send', count: 1, event: 'm' });
      client.send({ cmd: 'flush' });
      await client.next('flushed');
      const total = 600;
      server.send({ cmd: 'send', count: total, sock: 1, yieldEvery: 5 });
      for (let i = 0; i < 2; i++) {
        await client.next('progress');
        client.send({ cmd: 'drop' });
        await client.next('connect');
      }
      server.send({ cmd: 'flush', sock: 1 });
      await server.next('flushed');
      const session = (await server.stats()).session;
      for (let i = 1; i <= total; i++) {
        const e = await client.next('event');
        assert.deepEqual([e.info, e.data.k], [{ session, seq: i }, i]);
      }
      assert.deepEqual(client.taken('event'), [], 'nothing delivered twice');
      const st = (await server.stats()).stats;
      console.log(`node-ipc ${l} server -> node-ipc ${l} client, 2 dropped connections: ${total} messages ` +
        `delivered once each, in order (${st.messagesResent} sent again)`);
      assert.equal(st.messagesAcknowledged, total);
    });

    test(`acks: node-ipc ${l} client refused ERR_IPC_ACKS_UNSUPPORTED by a plain node-ipc server ` +
      'and by a server with acks off', async (t) => {
      for (const [what, serverOpts] of [['plain node-ipc', { companion: false }], ['acks off', { acks: false }]]) {
        const ep = await endpoint(t, 'unix');
        // The client waits for its server with 3 messages to send.
        const client = await startPeer(t, `client ${l}`, { lib: l, role: 'client', ...ep.opts, acks: true, retry: 20,
          helloTimeout: 300 });
        client.send({ cmd: 'send', count: 3 });
        await client.next('sent');
        const server = await startPeer(t, `server ${l}`, { lib: l, role: 'server', ...ep.opts, ...serverOpts });
        const e = await client.next('error');
        assert.equal(e.code, 'ERR_IPC_ACKS_UNSUPPORTED', what);
        assert.deepEqual(e.unsent, [1, 2, 3], `${what}: the messages not sent are reported`);
        client.send({ cmd: 'flush' });
        const f = await client.next('flushError');
        assert.equal(f.code, 'ERR_IPC_ACKS_UNSUPPORTED', what);
        client.send({ cmd: 'send', count: 1 });
        const ee = await client.next('emitError');
        assert.equal(ee.code, 'ERR_IPC_ACKS_UNSUPPORTED', `${what}: emit after the refusal`);
        // Requests still work over the same connection when the server has the companion.
        if (serverOpts.companion !== false) {
          const r = await client.request({ n: 1, event: 'echo', data: 'still here' });
          assert.equal(r.data, 'still here');
        }
        await client.stop();
        await server.stop();
      }
    });

    test(`acks: node-ipc ${l} client outbox bound, then delivered once the server is up`, async (t) => {
      const ep = await endpoint(t, 'unix');
      const client = await startPeer(t, `client ${l}`, { lib: l, role: 'client', ...ep.opts, acks: true, retry: 20,
        maxOutboxBytes: 4000 });
      client.send({ cmd: 'send', count: 100, pad: 100, noWait: true });
      const e = await client.next('emitError');
      assert.equal(e.code, 'ERR_IPC_OUTBOX_FULL');
      const { unacknowledged } = await client.stats();
      assert.ok(unacknowledged > 0 && unacknowledged < 100, `${unacknowledged} kept`);
      const server = await startPeer(t, `server ${l}`, { lib: l, role: 'server', ...ep.opts, acks: true, reportMessages: true });
      client.send({ cmd: 'flush' });
      await client.next('flushed');
      for (let i = 1; i <= unacknowledged; i++) assert.equal((await server.next('message')).info.seq, i);
    });

    test(`acks: node-ipc ${l} server checks session ids and refuses reserved names alone`, async (t) => {
      const ep = await endpoint(t, 'unix');
      const server = await startPeer(t, `server ${l}`, { lib: l, role: 'server', ...ep.opts, acks: true, reportMessages: true });
      // A plain node-ipc client that writes the extension frames by hand.
      const client = await startPeer(t, `client ${l}`, { lib: l, role: 'client', ...ep.opts, companion: false,
        events: ['nodeipc.hello', 'nodeipc.ack'] });
      await client.next('connect');
      const hello = (session) => client.send({ cmd: 'raw', type: 'nodeipc.hello',
        data: { v: 1, acks: true, session, peer: '', delivered: 0 } });
      for (const bad of ['', 'a\u0001b', 'tab\there', 'del\u007f', 'x'.repeat(257), '\u00e9'.repeat(129)]) {
        hello(bad);
        const e = await client.next('event', (x) => x.type === 'nodeipc.hello');
        assert.deepEqual(e.data, { v: 1, acks: false }, `session ${JSON.stringify(bad)}`);
        assert.equal((await server.next('error')).code, 'ERR_IPC_INVALID_MESSAGE');
      }
      const good = 'é'.repeat(128); // 256 bytes
      hello(good);
      const h = await client.next('event', (x) => x.type === 'nodeipc.hello');
      assert.deepEqual([h.data.acks, h.data.delivered], [true, 0]);
      // Message 2 is named after a lifecycle event: refused alone, reported, counted as
      // delivered; 1 and 3 are delivered.
      for (const [seq, event] of [[1, 'm'], [2, 'connect'], [3, 'm'], [4, 'toString'], [5, 'nodeipc.ack'], [6, 'm']]) {
        client.send({ cmd: 'raw', type: 'nodeipc.msg', data: { seq, event, data: { seq } } });
      }
      await client.next('event', (x) => x.type === 'nodeipc.ack' && x.data.seq === 6);
      const refused = [];
      for (let i = 0; i < 3; i++) refused.push((await server.next('error')).code);
      assert.deepEqual(refused, ['ERR_IPC_RESERVED_EVENT', 'ERR_IPC_RESERVED_EVENT', 'ERR_IPC_RESERVED_EVENT']);
      const got = [];
      for (let i = 0; i < 3; i++) got.push((await server.next('message')).info);
      assert.deepEqual(got, [1, 3, 6].map((seq) => ({ session: good, seq })));
      assert.equal((await server.stats()).stats.messagesDelivered, 6);
    });

    test(`acks: node-ipc ${l} server drops duplicates and closes the connection on a gap`, async (t) => {
      const ep = await endpoint(t, 'unix');
      const server = await startPeer(t, `server ${l}`, { lib: l, role: 'server', ...ep.opts, acks: true });
      const client = await startPeer(t, `client ${l}`, { lib: l, role: 'client', ...ep.opts, acks: true, retry: 20,
        events: ['nodeipc.ack'] });
      client.send({ cmd: 'send', count: 1 });
      client.send({ cmd: 'flush' });
      await client.next('flushed');
      await client.next('event', (e) => e.type === 'nodeipc.ack' && e.data.seq === 1);
      // The same message again: dropped, acknowledged again.
      client.send({ cmd: 'raw', type: 'nodeipc.msg', data: { seq: 1, event: 'm', data: {} } });
      await client.next('event', (e) => e.type === 'nodeipc.ack' && e.data.seq === 1);
      // Message 5 after 1: the server reports it and closes the connection.
      client.send({ cmd: 'raw', type: 'nodeipc.msg', data: { seq: 5, event: 'm', data: {} } });
      const e = await server.next('error');
      assert.equal(e.code, 'ERR_IPC_ACK_SEQUENCE');
      await client.next('disconnect');
      await client.next('connect');
      client.send({ cmd: 'send', count: 1 });
      client.send({ cmd: 'flush' });
      await client.next('flushed');
      const st = (await server.stats()).stats;
      assert.equal(st.messagesDelivered, 2);
      assert.equal(st.duplicatesDropped, 1);
    });
  }
});
