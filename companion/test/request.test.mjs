// Request / response between real node-ipc 9.2.1, @achrinza/node-ipc 10.1.11
// and node-ipc 14.0.0 processes, each with the companion attached, over Unix
// sockets and TCP.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { endpoint, freeUDPPort, libs, startPeer } from './helpers.mjs';

const transports = /** @type {const} */ (['unix', 'tcp']);

// The peers mostly wait on each other: a few pairs run at once.
describe('request / response', { concurrency: 3 }, () => {
  for (const transport of transports) {
    for (const c of libs) {
      for (const s of libs) {
        test(`requests: node-ipc ${c} client and node-ipc ${s} server over ${transport}`, async (t) => {
          const ep = await endpoint(t, transport);
          // identifyPeer makes node-ipc 14 set socket.id from data.id as 9 and 10 always do.
          const server = await startPeer(t, `server ${s}`, { lib: s, role: 'server', ...ep.opts, config: { identifyPeer: true } });
          const client = await startPeer(t, `client ${c}`, { lib: c, role: 'client', ...ep.opts, events: ['nodeipc.reply', 'nodeipc.request'] });
          await client.next('connect');
          await server.next('connect');
          let n = 0;

          // Both ways: values come back as sent; undefined data is {}.
          for (const [who, peer, extra] of [['client', client, {}], ['server', server, { sock: 1 }]]) {
            for (const data of [{ a: 1, b: [1, 'x', null] }, 'text', 0, false, null, [], 'é☃\f']) {
              const r = await peer.request({ n: ++n, event: 'echo', data, ...extra });
              assert.deepEqual(r, { ev: 'result', n, ok: true, data }, `${who} echo ${JSON.stringify(data)}`);
            }
            let r = await peer.request({ n: ++n, event: 'echo', ...extra });
            assert.deepEqual(r.data, {}, `${who}: a request without data carries {}`);
            r = await peer.request({ n: ++n, event: 'undef', ...extra });
            assert.deepEqual(r.data, {}, `${who}: a handler's undefined is {}`);

            // Remote errors: the handler's code, or ERR_IPC_HANDLER_FAILED.
            r = await peer.request({ n: ++n, event: 'fail', data: { code: 'E_APP', message: 'no such thing' }, ...extra });
            assert.deepEqual([r.ok, r.name, r.code, r.message], [false, 'RemoteError', 'E_APP', 'no such thing'], who);
            r = await peer.request({ n: ++n, event: 'fail', data: { message: 'plain' }, ...extra });
            assert.deepEqual([r.name, r.code, r.message], ['RemoteError', 'ERR_IPC_HANDLER_FAILED', 'plain'], who);
            r = await peer.request({ n: ++n, event: 'fail', data: { code: '', message: 'empty code' }, ...extra });
            assert.equal(r.code, 'ERR_IPC_HANDLER_FAILED', `${who}: an empty code is no code`);
            r = await peer.request({ n: ++n, event: 'fail', data: { code: 7, message: 'numeric code' }, ...extra });
            assert.equal(r.code, 'ERR_IPC_HANDLER_FAILED', `${who}: a numeric code is no code`);
            r = await peer.request({ n: ++n, event: 'throwstring', ...extra });
            assert.deepEqual([r.code, r.message], ['ERR_IPC_HANDLER_FAILED', 'a thrown string'], who);
            r = await peer.request({ n: ++n, event: 'bigint', ...extra });
            assert.equal(r.code, 'ERR_IPC_HANDLER_FAILED', `${who}: a reply that cannot be encoded`);
            assert.match(r.message, /could not be encoded/);
            r = await peer.request({ n: ++n, event: 'nothing.here', ...extra });
            assert.deepEqual([r.name, r.code], ['RemoteError', 'ERR_IPC_NO_HANDLER'], who);

            // A timeout, then the late reply: dropped and counted.
            const other = peer === client ? server : client;
            const before = (await peer.stats()).stats.lateReplies;
            r = await peer.request({ n: ++n, event: 'hold', data: { key: `late-${who}` }, timeout: 200, ...extra });
            assert.deepEqual([r.ok, r.name, r.code], [false, 'IPCError', 'ERR_IPC_TIMEOUT'], who);
            await other.next('holding', (e) => e.key === `late-${who}`);
            other.send({ cmd: 'release', key: `late-${who}` });
            await other.next('released', (e) => e.key === `late-${who}`);
            // A reply that comes after the late one proves the late one arrived.
            assert.equal((await peer.request({ n: ++n, event: 'echo', data: 1, ...extra })).data, 1);
            let st = (await peer.stats()).stats;
            assert.equal(st.lateReplies, before + 1, `${who}: the late reply is counted`);
            assert.equal(st.timeouts, 1);

            // Abort: rejects at once; the reply that follows is late.
            peer.send({ cmd: 'request', n: ++n, event: 'hold', data: { key: `abort-${who}` }, abortable: true, ...extra });
            await other.next('holding', (e) => e.key === `abort-${who}`);
            peer.send({ cmd: 'abort', n });
            r = await peer.next('result', (e) => e.n === n);
            assert.deepEqual([r.ok, r.name, r.code], [false, 'AbortError', 'ABORT_ERR'], who);
            other.send({ cmd: 'release', key: `abort-${who}` });
            await other.next('released', (e) => e.key === `abort-${who}`);
            assert.equal((await peer.request({ n: ++n, event: 'echo', data: 2, ...extra })).data, 2);
            st = (await peer.stats()).stats;
            assert.equal(st.lateReplies, before + 2, `${who}: the reply to an aborted request is counted`);
            assert.equal(st.aborts, 1);
          }

          // The frames on the wire, as the receiving node-ipc handlers see them.
          const seen = client.taken('event');
          const raw = seen.filter((e) => e.type === 'nodeipc.request');
          assert.ok(raw.length > 0);
          assert.deepEqual(Object.keys(raw[0].data).sort(), ['data', 'event', 'rid']);
          assert.ok(Number.isSafeInteger(raw[0].data.rid) && raw[0].data.rid >= 1);
          const replies = seen.filter((e) => e.type === 'nodeipc.reply');
          assert.ok(replies.length > 0);
          for (const e of replies) assert.ok(!('id' in e.data), `a reply carries no id: ${JSON.stringify(e.data)}`);

          // A request without a valid id is not answered (reported); one
          // without an event name is answered ERR_IPC_INVALID_REQUEST.
          client.send({ cmd: 'raw', type: 'nodeipc.request', data: { event: 'echo', data: 1 } });
          let e = await server.next('error');
          assert.equal(e.code, 'ERR_IPC_INVALID_REQUEST');
          client.send({ cmd: 'raw', type: 'nodeipc.request', data: { rid: 1e15, event: '' } });
          e = await client.next('event', (x) => x.type === 'nodeipc.reply' && x.data.rid === 1e15);
          assert.deepEqual(e.data.error.code, 'ERR_IPC_INVALID_REQUEST');
          client.send({ cmd: 'raw', type: 'nodeipc.request', data: { rid: 1e15 + 1, event: 'nothing.here' } });
          e = await client.next('event', (x) => x.type === 'nodeipc.reply' && x.data.rid === 1e15 + 1);
          assert.deepEqual(Object.keys(e.data).sort(), ['error', 'rid']);
          assert.deepEqual(Object.keys(e.data.error).sort(), ['code', 'message']);

          // node-ipc's own socket.id (set from data.id) is untouched by requests and replies:
          // they carry their id as "rid".
          client.send({ cmd: 'raw', type: 'ident', data: { id: 'worker-1' } });
          let r = await client.request({ n: ++n, event: 'whoami' });
          assert.equal(r.data.sockId, 'worker-1', 'socket.id after a request');
          r = await server.request({ n: ++n, event: 'echo', data: 3, sock: 1 });
          r = await client.request({ n: ++n, event: 'whoami' });
          assert.equal(r.data.sockId, 'worker-1', 'socket.id after a reply');

          // The connection ends while requests wait: both sides reject at once.
          server.send({ cmd: 'request', n: ++n, event: 'hold', data: { key: 'lost-s' }, timeout: 60000, sock: 1 });
          const serverWaits = n;
          await client.next('holding', (x) => x.key === 'lost-s');
          await client.kill();
          r = await server.next('result', (x) => x.n === serverWaits);
          assert.deepEqual([r.ok, r.code], [false, 'ERR_IPC_DISCONNECTED'], 'server request, client killed');

          // A second client: at most 2 requests in flight, and no reconnect.
          const second = await startPeer(t, `client ${c} (2)`, { lib: c, role: 'client', ...ep.opts, maxInFlight: 2, maxRetries: 0 });
          await second.next('connect');
          second.send({ cmd: 'request', n: 1, event: 'hold', data: { key: 'a' }, timeout: 60000 });
          second.send({ cmd: 'request', n: 2, event: 'hold', data: { key: 'b' }, timeout: 60000 });
          await server.next('holding', (x) => x.key === 'a');
          await server.next('holding', (x) => x.key === 'b');
          r = await second.request({ n: 3, event: 'echo' });
          assert.deepEqual([r.ok, r.code], [false, 'ERR_IPC_TOO_MANY_REQUESTS']);
          await server.kill();
          for (const k of [1, 2]) {
            r = await second.next('result', (x) => x.n === k);
            assert.deepEqual([r.ok, r.code], [false, 'ERR_IPC_DISCONNECTED'], 'client request, server killed');
          }
          await second.next('disconnect');
          r = await second.request({ n: 4, event: 'echo' });
          assert.deepEqual([r.ok, r.code], [false, 'ERR_IPC_NOT_CONNECTED'], 'a request with the connection down');
          const st = (await second.stats()).stats;
          assert.equal(st.disconnects, 2);
        });
      }
    }
  }

  // A reply's error decides: "error": null is a success, an error wins over
  // data, an error without a code is ERR_IPC_HANDLER_FAILED. The replies come
  // from a plain node-ipc server that answers by hand.
  for (const l of libs) {
    test(`requests: node-ipc ${l} client reads replies written by hand`, async (t) => {
      const ep = await endpoint(t, 'unix');
      const server = await startPeer(t, `server ${l}`, { lib: l, role: 'server', ...ep.opts, companion: false,
        events: ['nodeipc.request'] });
      const client = await startPeer(t, `client ${l}`, { lib: l, role: 'client', ...ep.opts });
      await client.next('connect');
      await server.next('connect');
      const cases = [
        [{ error: null, data: { v: 7 } }, { ok: true, data: { v: 7 } }],
        [{ error: null }, { ok: true, data: {} }],
        [{ error: { code: 'E_X', message: 'both' }, data: 1 }, { ok: false, code: 'E_X', message: 'both' }],
        [{ error: { message: 'no code' } }, { ok: false, code: 'ERR_IPC_HANDLER_FAILED', message: 'no code' }],
      ];
      let n = 0;
      for (const [reply, want] of cases) {
        client.send({ cmd: 'request', n: ++n, event: 'anything', data: n });
        const req = await server.next('event', (e) => e.type === 'nodeipc.request' && e.data.data === n);
        server.send({ cmd: 'raw', sock: 1, type: 'nodeipc.reply', data: { rid: req.data.rid, ...reply } });
        const r = await client.next('result', (e) => e.n === n);
        const got = r.ok ? { ok: true, data: r.data } : { ok: false, code: r.code, message: r.message };
        assert.deepEqual(got, want, JSON.stringify(reply));
      }
    });
  }

  // UDP: both ends are node-ipc UDP servers; a request goes to {address, port}.
  for (const a of libs) {
    for (const b of libs) {
      test(`requests: node-ipc ${a} and node-ipc ${b} UDP4 servers`, async (t) => {
        const [pa, pb] = [await freeUDPPort(), await freeUDPPort()];
        const A = await startPeer(t, `udp ${a}`, { lib: a, role: 'server', transport: 'udp4', port: pa });
        const B = await startPeer(t, `udp ${b}`, { lib: b, role: 'server', transport: 'udp4', port: pb });
        const toA = { to: { address: '127.0.0.1', port: pa } };
        const toB = { to: { address: '127.0.0.1', port: pb } };
        let r = await A.request({ n: 1, event: 'echo', data: { x: [1, 'y'] }, ...toB });
        assert.deepEqual(r.data, { x: [1, 'y'] });
        r = await B.request({ n: 1, event: 'whoami', ...toA });
        assert.equal(r.data.port, pb, 'the handler gets the requester as its socket');
        r = await B.request({ n: 2, event: 'fail', data: { code: 'E_UDP', message: 'over udp' }, ...toA });
        assert.deepEqual([r.name, r.code, r.message], ['RemoteError', 'E_UDP', 'over udp']);
        r = await A.request({ n: 2, event: 'nothing.here', ...toB });
        assert.equal(r.code, 'ERR_IPC_NO_HANDLER');
        r = await A.request({ n: 3, event: 'hold', data: { key: 'u' }, timeout: 200, ...toB });
        assert.equal(r.code, 'ERR_IPC_TIMEOUT');
        await B.next('holding', (e) => e.key === 'u');
        B.send({ cmd: 'release', key: 'u' });
        await B.next('released');
        assert.equal((await A.request({ n: 4, event: 'echo', data: 5, ...toB })).data, 5);
        assert.equal((await A.stats()).stats.lateReplies, 1);
      });
    }
  }
});
