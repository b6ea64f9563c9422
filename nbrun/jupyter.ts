/**
 * Talking to a Jupyter server with @jupyterlab/services from Node: the
 * connection settings and kernel manager, REST calls, a server given by
 * --url, and the workarounds that library needs outside a browser.
 */
import { createRequire } from 'node:module';
import { KernelManager, ServerConnection } from '@jupyterlab/services';

/**
 * A REST call through @jupyterlab/services, which prints the server's
 * traceback of a failed request with console.error: keep it out of the
 * output, and end the error's message with its last line (the Python error).
 */
export async function request<T>(call: () => Promise<T>): Promise<T> {
  const printError = console.error;
  const printed: string[] = [];
  console.error = (...args: unknown[]) => void printed.push(args.map(String).join(' '));
  try {
    return await call();
  } catch (e) {
    const cause = printed.join('\n').trimEnd().split('\n').pop()?.trim();
    const message = e instanceof Error ? e.message : String(e);
    throw new Error(cause && cause !== message ? `${message}: ${cause}` : message, { cause: e });
  } finally {
    console.error = printError;
  }
}

/**
 * The WebSocket class of `ws` (Node 20 has no global WebSocket), opened
 * without subprotocols: `ws` fails a handshake in which the server picks none
 * (as notebook 6 does), which @jupyterlab/services would only notice by
 * reconnecting. Without subprotocols every server speaks the JSON protocol.
 */
function jsonProtocolWebSocket(): ServerConnection.ISettings['WebSocket'] {
  // `ws` is a dependency of @jupyterlab/services: resolve it from there
  const req = createRequire(createRequire(import.meta.url).resolve('@jupyterlab/services'));
  const WS = req('ws') as new (url: string, protocols?: string | string[]) => object;
  class JsonProtocolWebSocket extends WS {
    // the protocols Jupyter asks for are dropped (see above)
    constructor(url: string, _protocols?: string | string[]) {
      super(url);
    }
  }
  return JsonProtocolWebSocket as unknown as ServerConnection.ISettings['WebSocket'];
}

/** The settings for the server at `baseUrl` and a kernel manager on them (to be disposed). */
export function connect(baseUrl: string, token: string): { settings: ServerConnection.ISettings; kernels: KernelManager } {
  const settings = ServerConnection.makeSettings({
    baseUrl,
    wsUrl: baseUrl.replace(/^http/, 'ws'),
    token,
    appendToken: true,
    WebSocket: jsonProtocolWebSocket(),
  });
  const kernels = new KernelManager({ serverSettings: settings, standby: 'never' });
  // the manager polls the running kernels from the start; its `ready` (which nbrun never awaits)
  // rejects with "Poll ... is disposed" when nbrun disposes it before that first poll ends, as when a
  // notebook is refused at once (not JSON, not a notebook, no such kernel). Unhandled, that rejection
  // ended the process (see quietServices) before the refusal was printed: it says nothing, the refusal does
  void kernels.ready.catch(() => undefined);
  return { settings, kernels };
}

/** The base URL (ending in /) and the ?token= of a server URL as the browser shows it (/tree, /lab, /notebooks/... dropped). */
export function parseUrl(url: string): { baseUrl: string; token: string | undefined } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--url: not a URL: '${url}' (e.g. http://127.0.0.1:8888/)`);
  }
  const token = u.searchParams.get('token') ?? undefined;
  let path = u.pathname.replace(/\/(tree|lab|notebooks)(\/.*)?$/, '/');
  if (!path.endsWith('/')) path += '/';
  return { baseUrl: `${u.protocol}//${u.host}${path}`, token };
}

/** Fail up front when a running server cannot be reached or refuses the token. */
export async function checkServer(baseUrl: string, token: string): Promise<void> {
  const r = await fetch(`${baseUrl}api/status`, {
    headers: token ? { Authorization: `token ${token}` } : {},
    signal: AbortSignal.timeout(10_000),
  }).catch((e: unknown) => {
    throw new Error(`cannot reach the Jupyter server at ${baseUrl}: ${(e as Error).message}`);
  });
  if (r.status === 403 || r.status === 401)
    throw new Error(`the Jupyter server at ${baseUrl} refused the token (HTTP ${r.status}): pass --token, or a --url with ?token=`);
  if (!r.ok) throw new Error(`the Jupyter server at ${baseUrl} answered HTTP ${r.status} to /api/status`);
}

/**
 * Quiet what @jupyterlab/services prints and throws on its own while nbrun
 * runs; the returned function puts it back.
 */
export function quietServices(): () => void {
  // @jupyterlab/services logs each WebSocket it opens with console.debug, and a dead kernel's
  // connection with console.warn (nbrun reports the dead kernel itself)
  const debug = console.debug;
  const warn = console.warn;
  console.debug = () => undefined;
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].startsWith('Connection lost, reconnecting')) return;
    warn(...args);
  };
  // ...and when a kernel restarts (it died) it reconnects in a promise nobody awaits, which rejects
  // once nbrun closes that connection: that one is expected; anything else stays fatal
  const onUnhandled = (reason: unknown): void => {
    if (reason instanceof Error && reason.message === 'Kernel connection disconnected') return;
    throw reason;
  };
  process.on('unhandledRejection', onUnhandled);
  return () => {
    console.debug = debug;
    console.warn = warn;
    // a late rejection of a connection closed above may still come: keep ignoring it for a moment
    setTimeout(() => process.removeListener('unhandledRejection', onUnhandled), 1000).unref();
  };
}
