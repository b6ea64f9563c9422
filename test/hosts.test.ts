/**
 * The test hosts of the multi-host suites (test/support/hosts.ts), on the real
 * thing: three network namespaces on one bridge reach each other and nothing
 * else, and the root namespace has no way to them; ssh from A runs this node
 * on B; a link down is a partition (A's connection to B times out, B's are
 * unreachable) and a link up heals it; a relay forwards both ways and captures
 * every byte (ssh through it works, and its capture holds the plaintext
 * banners but not the command); cleanup() leaves no namespace and no process,
 * and what a test process forgets is deleted when it exits, is signalled, or
 * (SIGKILL) by the next sweep.
 *
 * Needs root, `ip netns`, sshd and ssh-keygen (Debian: apt-get install -y
 * openssh-server iproute2). Without them the suite is skipped, saying so,
 * unless CI=true, where it fails (test/support/gates.ts).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import {
  DIST,
  FIXTURES,
  createHosts,
  describeGated,
  findProcesses,
  hostsGate,
  netnsList,
  nsProcesses,
  pidGone,
  relay,
  runNode,
  runProcess,
  showResult,
  startSshd,
  sweepStaleHosts,
  tcpProbe,
  tempRootForFile,
  waitGone,
} from './support/index.js';
import type { Host, Hosts, Sshd } from './support/index.js';

const dir = tempRootForFile('hosts');
const CUT_OFF = ['timeout', 'unreachable'];

/** ~/.ssh as it is: names, sizes and mtimes (nothing here may write to it). */
function dotSsh(): string {
  const d = join(homedir(), '.ssh');
  if (!existsSync(d)) return 'absent';
  return JSON.stringify([d, ...readdirSync(d).map((f) => join(d, f))].map((f) => [f, statSync(f).size, statSync(f).mtimeMs]));
}

describeGated(hostsGate(), 'test hosts: network namespaces, sshd, partitions, relays', () => {
  let hosts: Hosts | undefined;
  let a: Host;
  let b: Host;
  let c: Host;
  let sshdB: Sshd;
  let sshdC: Sshd;
  const sshBefore = dotSsh();

  before(async () => {
    hosts = await createHosts({ names: ['a', 'b', 'c'], dir });
    [a, b, c] = [hosts.get('a'), hosts.get('b'), hosts.get('c')];
    [sshdB, sshdC] = await Promise.all([startSshd(b), startSshd(c)]);
  });
  // runs when a test (or `before`) failed too; after the last test's own cleanup() it only returns that result
  after(async () => {
    await hosts?.cleanup();
  });

  test('three hosts on one /24 (.1, .2, .3), loopback up, and one route: their network; nowhere else', async () => {
    const net = hosts!.subnet.replace(/\.0\/24$/, '');
    assert.match(hosts!.subnet, /^(192\.0\.2|198\.51\.100|203\.0\.113)\.0\/24$/, 'a documentation net');
    assert.deepEqual(
      [a, b, c].map((h) => h.ip),
      [`${net}.1`, `${net}.2`, `${net}.3`],
    );
    assert.deepEqual(hosts!.namespaces, [`${hosts!.id}-hub`, a.ns, b.ns, c.ns]);
    const list = netnsList();
    for (const ns of hosts!.namespaces) assert.ok(list.includes(ns), `${ns} in ip netns list`);
    for (const h of [a, b, c]) {
      const routes = await h.exec(['ip', '-j', '-4', 'route', 'show', 'table', 'main']);
      assert.deepEqual(
        (JSON.parse(routes.stdout) as { dst: string; dev: string }[]).map((r) => `${r.dst} ${r.dev}`),
        [`${hosts!.subnet} ${h.dev}`],
        `${h.name}: ${showResult(routes)}`,
      );
      const lo = await h.exec(['ip', '-o', 'link', 'show', 'lo']);
      assert.match(lo.stdout, /<LOOPBACK,UP,LOWER_UP>/);
      // asked of the kernel, no packet sent
      const out = await h.exec(['ip', 'route', 'get', '1.1.1.1']);
      assert.match(out.stderr, /Network is unreachable/, showResult(out));
    }
  });

  test('A reaches B and C, B reaches C; the root namespace has no address, route or gateway on their network', async () => {
    assert.equal(await tcpProbe(a, b.ip, sshdB.port), 'connected');
    assert.equal(await tcpProbe(a, c.ip, sshdC.port), 'connected');
    assert.equal(await tcpProbe(b, c.ip, sshdC.port), 'connected');
    assert.equal(await tcpProbe(a, c.ip, 9), 'refused', 'C itself answers for a port nothing listens on');
    // asked of the kernel, nothing sent: from the root namespace a packet to them could only leave by this machine's own network
    const net = hosts!.subnet.replace(/0\/24$/, '');
    const addrs = await runProcess('ip', ['-j', '-4', 'addr'], { timeoutMs: 10_000 });
    assert.equal(addrs.code, 0, showResult(addrs));
    assert.deepEqual(
      (JSON.parse(addrs.stdout) as { addr_info?: { local: string }[] }[]).flatMap((l) => l.addr_info ?? []).filter((x) => x.local.startsWith(net)),
      [],
    );
    for (const h of [a, b, c]) {
      const r = await runProcess('ip', ['-j', 'route', 'get', h.ip], { timeoutMs: 10_000 });
      if (r.code !== 0) {
        assert.match(r.stderr, /Network is unreachable/, showResult(r)); // no route at all
        continue;
      }
      const [route] = JSON.parse(r.stdout) as { type?: string; prefsrc?: string; gateway?: string }[];
      assert.notEqual(route?.type, 'local', `${h.ip} is not the root namespace's: ${r.stdout}`);
      assert.ok(!route?.prefsrc?.startsWith(net) && !route?.gateway?.startsWith(net), `no way to ${h.ip} from the root namespace: ${r.stdout}`);
    }
  });

  test('ssh from A runs this node on B (one file system), and scp copies; nothing touches ~/.ssh', async () => {
    const r = await sshdB.ssh(a, `${process.execPath} --version && ip -o -4 addr show dev ${b.dev}`);
    assert.equal(r.code, 0, showResult(r));
    const [version, addr] = r.stdout.split('\n');
    assert.equal(version, process.version);
    assert.match(addr ?? '', new RegExp(`inet ${b.ip.replaceAll('.', '\\.')}/24`), 'it ran on B');
    const src = join(dir, 'scp-src');
    const dst = join(dir, 'scp-dst');
    writeFileSync(src, 'copied over scp\n');
    const cp = await a.exec(['scp', ...sshdB.scpArgs, src, `${sshdB.destination}:${dst}`]);
    assert.equal(cp.code, 0, showResult(cp));
    assert.equal(readFileSync(dst, 'utf8'), 'copied over scp\n');
    const viaC = await sshdC.ssh(b, 'echo on-c');
    assert.equal(viaC.stdout, 'on-c\n', 'the same user key logs in on every host');
    assert.equal(dotSsh(), sshBefore);
  });

  test("a partition: B's link down, A's connection to B times out, B's are unreachable; link up, both work again", async () => {
    await b.linkDown();
    try {
      const t0 = Date.now();
      assert.ok(CUT_OFF.includes(await tcpProbe(a, b.ip, sshdB.port, 500)), 'A cannot reach B');
      assert.ok(CUT_OFF.includes(await tcpProbe(b, c.ip, sshdC.port, 500)), 'B cannot reach C');
      assert.ok(Date.now() - t0 < 5000, `quickly (${Date.now() - t0} ms)`);
      assert.equal(await tcpProbe(a, c.ip, sshdC.port), 'connected', 'A still reaches C');
    } finally {
      await b.linkUp();
    }
    assert.equal(await tcpProbe(a, b.ip, sshdB.port), 'connected');
    assert.equal(await tcpProbe(b, c.ip, sshdC.port), 'connected');
  });

  test('a relay on A forwards C to B and captures every byte: ssh through it works, its capture has the banners but not the command', async () => {
    const r = await relay(a, 0, b.ip, sshdB.port);
    const marker = `plaintext-${randomBytes(8).toString('hex')}`;
    const out = await c.exec(['ssh', ...sshdB.clientArgs(r.port), `root@${a.ip}`, `echo ${marker}`]);
    assert.equal(out.stdout, `${marker}\n`, showResult(out));
    assert.equal(r.connections(), 1);
    const [up, down] = [r.toTarget(), r.fromTarget()];
    assert.match(up.subarray(0, 8).toString('latin1'), /^SSH-2\.0-/, "C's banner, in the clear");
    assert.match(down.subarray(0, 16).toString('latin1'), /^SSH-2\.0-OpenSSH/, "B's banner, in the clear");
    assert.ok(up.length > 1000 && down.length > 1000, `the whole exchange (${up.length} + ${down.length} bytes)`);
    assert.equal(up.includes(marker), false, 'the command is encrypted');
    assert.equal(down.includes(marker), false, 'its output too');
    await r.stop();
    assert.ok(pidGone(r.pid));
    assert.notEqual(await tcpProbe(c, a.ip, r.port), 'connected', 'a stopped relay takes no connection');
  });

  test('cleanup: every process ended (sshd, relay, and what ssh left running), every namespace deleted; twice is harmless', async () => {
    const r = await relay(b, 0, c.ip, sshdC.port);
    const leftover = await sshdB.ssh(a, 'nohup sleep 600 >/dev/null 2>&1 </dev/null & echo $!');
    const sleeper = Number(leftover.stdout.trim());
    assert.ok(sleeper > 0, showResult(leftover));
    assert.ok(
      b.processes().some((p) => p.pid === sleeper),
      'the sleep runs on B',
    );
    const ours = [sshdB.pid, sshdC.pid, r.pid, sleeper];
    const report = await hosts!.cleanup();
    assert.deepEqual(report.stubborn, [], 'sshd and the relay end on SIGTERM');
    const seen = report.leftovers.join('\n');
    assert.ok(
      report.leftovers.some((l) => new RegExp(`^pid ${sleeper} \\(.*sleep 600`).test(l)),
      `the sleep ssh left on B is among the leftovers: ${seen}`,
    );
    assert.ok(
      report.leftovers.every((l) => l.startsWith(`pid ${sleeper} `) || l.includes('sshd')),
      `and nothing else (but an sshd session still closing): ${seen}`,
    );
    assert.deepEqual(await waitGone(ours, 0), []);
    const list = netnsList();
    assert.deepEqual(
      hosts!.namespaces.filter((ns) => list.includes(ns)),
      [],
    );
    for (const ns of hosts!.namespaces) assert.deepEqual(nsProcesses(ns), []);
    assert.deepEqual(
      findProcesses((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir)),
      [],
      'no process of this test (every sshd and relay has its directory in its command line)',
    );
    assert.equal(await hosts!.cleanup(), report, 'a second call returns the first one');
  });
});

describeGated(hostsGate(), 'test hosts a test process forgets', () => {
  const owner = (how: string): ReturnType<typeof runNode> =>
    runNode(join(FIXTURES, 'hosts-owner.mjs'), [pathToFileURL(join(DIST, 'test', 'support', 'hosts.js')).href, join(dir, `owner-${how}`), how], {
      timeoutMs: 30_000,
    });
  const made = (stdout: string): { namespaces: string[]; pid: number } =>
    JSON.parse(stdout.split('\n')[0] ?? '') as { namespaces: string[]; pid: number };

  for (const how of ['exit', 'SIGTERM']) {
    test(`are deleted, and their processes ended, when it ends (${how === 'exit' ? 'its event loop drains' : how})`, async () => {
      const r = await owner(how);
      assert.ok(how === 'exit' ? r.code === 0 : r.signal === how, `ended ${how === 'exit' ? 'by itself' : `by ${how}`}: ${showResult(r)}`);
      const { namespaces, pid } = made(r.stdout);
      assert.equal(namespaces.length, 3);
      const list = netnsList();
      assert.deepEqual(
        namespaces.filter((ns) => list.includes(ns)),
        [],
      );
      assert.deepEqual(await waitGone([pid], 5000), [], 'the process it started on a host');
    });
  }

  test('SIGKILLed: what it made stays until the next sweep (which every createHosts runs) deletes it', async () => {
    const r = await owner('SIGKILL');
    assert.equal(r.signal, 'SIGKILL', showResult(r));
    const { namespaces, pid } = made(r.stdout);
    const present = netnsList().filter((ns) => namespaces.includes(ns));
    const stillRan = !pidGone(pid);
    const swept = sweepStaleHosts(); // before asserting, so that a failure leaves nothing behind
    assert.deepEqual(present.sort(), [...namespaces].sort(), 'no exit hook ran');
    assert.ok(stillRan, 'its process still ran');
    for (const ns of present) assert.ok(swept.includes(ns), `${ns} swept`);
    const list = netnsList();
    assert.deepEqual(
      namespaces.filter((ns) => list.includes(ns)),
      [],
    );
    assert.deepEqual(await waitGone([pid], 5000), []);
  });
});
